// Tests the stand-in's parsing and resolution against a fake Connect server.
package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	vaultID = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	itemID  = "bbbbbbbbbbbbbbbbbbbbbbbbbb"
	secret  = "s3cr3t-value"
	token   = "test-token"
)

func fakeConnect(t *testing.T) *httptest.Server {
	item := fullItem{
		ID: itemID, Title: "db",
		Sections: []section{{ID: "sec1", Label: "admin"}},
		Fields: []field{
			{ID: "password", Label: "password", Value: secret},
			{ID: "f2", Label: "password", Value: "admin-" + secret, Section: &struct {
				ID string `json:"id"`
			}{ID: "sec1"}},
		},
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"status":401,"message":"Invalid bearer token"}`))
			return
		}
		var out any
		switch {
		case r.URL.Path == "/v1/vaults" && strings.EqualFold(r.URL.Query().Get("filter"), `name eq "Prod"`):
			out = []vault{{ID: vaultID, Name: "Prod"}}
		case r.URL.Path == "/v1/vaults":
			out = []vault{}
		case r.URL.Path == "/v1/vaults/"+vaultID+"/items" && strings.EqualFold(r.URL.Query().Get("filter"), `title eq "db"`):
			out = []itemSummary{{ID: itemID, Title: "db"}}
		case r.URL.Path == "/v1/vaults/"+vaultID+"/items":
			out = []itemSummary{}
		case r.URL.Path == "/v1/vaults/"+vaultID:
			out = vault{ID: vaultID, Name: "Prod"}
		case r.URL.Path == "/v1/vaults/"+vaultID+"/items/"+itemID:
			out = item
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"message":"not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
}

func TestParseReference(t *testing.T) {
	for input, want := range map[string]reference{
		"op://v/i/f":   {Vault: "v", Item: "i", Field: "f"},
		"op://v/i/s/f": {Vault: "v", Item: "i", Section: "s", Field: "f"},
	} {
		got, err := parseReference(input)
		if err != nil || got != want {
			t.Errorf("parseReference(%q) = %+v, %v; want %+v", input, got, err, want)
		}
	}
	for _, bad := range []string{"op://v/i", "op://v//f", "op://v/i/f?attribute=otp", "op://a/b/c/d/e"} {
		if _, err := parseReference(bad); err == nil {
			t.Errorf("parseReference(%q) accepted a malformed reference", bad)
		}
	}
}

func TestResolveByNameIDAndSection(t *testing.T) {
	server := fakeConnect(t)
	defer server.Close()
	env := map[string]string{"OP_CONNECT_HOST": server.URL, "OP_CONNECT_TOKEN": token}
	got, err := resolveEnvironment([]string{
		"A=op://Prod/db/password",
		"B=op://" + vaultID + "/" + itemID + "/admin/password",
		"C=op://prod/DB/sec1/f2",
		"PLAIN=not op://",
	}, func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=" + secret, "B=admin-" + secret, "C=admin-" + secret, "PLAIN=not op://"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestErrorsNameTheReferenceNotTheSecret(t *testing.T) {
	server := fakeConnect(t)
	defer server.Close()
	for _, c := range []struct{ value, token, mentions string }{
		{"op://Prod/db/missing", token, `no field matches "missing"`},
		{"op://Nope/db/password", token, `no vault matches "Nope"`},
		{"op://Prod/db/password", "wrong", "HTTP 401"},
	} {
		env := map[string]string{"OP_CONNECT_HOST": server.URL, "OP_CONNECT_TOKEN": c.token}
		_, err := resolveEnvironment([]string{"X=" + c.value}, func(name string) string { return env[name] })
		if err == nil || !strings.Contains(err.Error(), c.mentions) {
			t.Fatalf("%s: error %v does not mention %q", c.value, err, c.mentions)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), c.token) {
			t.Errorf("%s: error leaks a secret or the token: %v", c.value, err)
		}
	}
}
