// A minimal Connect REST client: vaults and items by id or name, the only calls `op run` needs.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type vault struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type itemSummary struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type section struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

type field struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Value   string `json:"value"`
	Section *struct {
		ID string `json:"id"`
	} `json:"section"`
}

type fullItem struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Sections []section `json:"sections"`
	Fields   []field   `json:"fields"`
}

type client struct {
	host  string
	token string
	http  *http.Client
}

// apiError keeps the status so a 404 on an id lookup can fall back to a name lookup.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("Connect answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("Connect answered HTTP %d: %s", e.Status, e.Message)
}

func newClient(host, token string) *client {
	host = strings.TrimRight(host, "/")
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	return &client{host: host, token: token, http: &http.Client{Timeout: 15 * time.Second}}
}

func (c *client) get(path string, query url.Values, out any) error {
	target := c.host + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	request, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	request.Header.Set("Authorization", "Bearer "+c.token)
	request.Header.Set("User-Agent", "op-kube-test-op-standin")
	response, err := c.http.Do(request)
	if err != nil {
		// url.Error names the URL (host and path, never the token, which only travels in a header).
		return fmt.Errorf("could not reach Connect: %w", err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading Connect's answer: %w", err)
	}
	if response.StatusCode != http.StatusOK {
		var problem struct {
			Message string `json:"message"`
		}
		// A proxy may answer HTML; then only the status is reported.
		_ = json.Unmarshal(body, &problem)
		return &apiError{Status: response.StatusCode, Message: problem.Message}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("Connect's answer to GET %s is not the expected JSON: %w", path, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var problem *apiError
	return errors.As(err, &problem) && problem.Status == http.StatusNotFound
}

func filter(attribute, value string) url.Values {
	return url.Values{"filter": {fmt.Sprintf("%s eq %q", attribute, value)}}
}

// pick applies the real op's rule to a filtered list: an exact name wins, then a case-insensitive
// one; more than one candidate is an error rather than a guess.
func pick[T any](kind, wanted string, candidates []T, name func(T) string) (T, error) {
	var zero T
	for _, equal := range []func(string, string) bool{
		func(a, b string) bool { return a == b },
		strings.EqualFold,
	} {
		var matches []T
		for _, candidate := range candidates {
			if equal(name(candidate), wanted) {
				matches = append(matches, candidate)
			}
		}
		if len(matches) == 1 {
			return matches[0], nil
		}
		if len(matches) > 1 {
			return zero, fmt.Errorf("more than one %s matches %q; use its id", kind, wanted)
		}
	}
	return zero, fmt.Errorf("no %s matches %q", kind, wanted)
}

func (c *client) vault(nameOrID string) (vault, error) {
	if isID(nameOrID) {
		var found vault
		err := c.get("/v1/vaults/"+url.PathEscape(nameOrID), nil, &found)
		if err == nil {
			return found, nil
		}
		if !isNotFound(err) {
			return vault{}, err
		}
		// A vault may be named like an id: fall back to the name lookup, as the real op does.
	}
	var vaults []vault
	if err := c.get("/v1/vaults", filter("name", nameOrID), &vaults); err != nil {
		return vault{}, err
	}
	return pick("vault", nameOrID, vaults, func(v vault) string { return v.Name })
}

func (c *client) item(vaultID, titleOrID string) (fullItem, error) {
	base := "/v1/vaults/" + url.PathEscape(vaultID) + "/items"
	var found fullItem
	if isID(titleOrID) {
		err := c.get(base+"/"+url.PathEscape(titleOrID), nil, &found)
		if err == nil {
			return found, nil
		}
		if !isNotFound(err) {
			return fullItem{}, err
		}
	}
	var items []itemSummary
	if err := c.get(base, filter("title", titleOrID), &items); err != nil {
		return fullItem{}, err
	}
	summary, err := pick("item", titleOrID, items, func(i itemSummary) string { return i.Title })
	if err != nil {
		return fullItem{}, err
	}
	err = c.get(base+"/"+url.PathEscape(summary.ID), nil, &found)
	return found, err
}
