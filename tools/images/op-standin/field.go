// Picks the field a reference names inside a full item: by id or label, within a section if given.
package main

import (
	"fmt"
	"strings"
)

func fieldValue(item fullItem, ref reference) (string, error) {
	candidates := item.Fields
	if ref.Section != "" {
		sec, err := pick("section", ref.Section, item.Sections, func(s section) string { return s.Label })
		if err != nil {
			// A section is also addressed by its id.
			sec, err = pickByID(ref.Section, item.Sections, func(s section) string { return s.ID })
			if err != nil {
				return "", fmt.Errorf("item %q has no section %q", item.Title, ref.Section)
			}
		}
		candidates = nil
		for _, f := range item.Fields {
			if f.Section != nil && f.Section.ID == sec.ID {
				candidates = append(candidates, f)
			}
		}
	}
	// An id is unique within an item, so an id match wins over labels.
	if f, err := pickByID(ref.Field, candidates, func(f field) string { return f.ID }); err == nil {
		return f.Value, nil
	}
	f, err := pick("field", ref.Field, candidates, func(f field) string { return f.Label })
	if err != nil {
		return "", fmt.Errorf("item %q: %w", item.Title, err)
	}
	return f.Value, nil
}

func pickByID[T any](wanted string, candidates []T, id func(T) string) (T, error) {
	for _, candidate := range candidates {
		if id(candidate) == wanted {
			return candidate, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("no id %q", strings.TrimSpace(wanted))
}
