package httpapi_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/onekey-oss/onekey/services/auth/internal/httpapi"
)

// TestOpenAPI_DocumentsExactlyTheServedRoutes reads api/openapi/auth.yaml
// (paths at two spaces of indentation, methods at four) and compares its
// operations with the routes the API serves.
func TestOpenAPI_DocumentsExactlyTheServedRoutes(t *testing.T) {
	f, err := os.Open("../../../../api/openapi/auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var documented []string
	inPaths, path := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case !inPaths:
		case strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case path != "" && len(line) > 4 && line[:4] == "    " && line[4] != ' ':
			m := strings.TrimSuffix(strings.TrimSpace(line), ":")
			if slices.Contains([]string{"get", "post", "patch", "delete", "put"}, m) {
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{PublicURL: "https://app.example"}, httpapi.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	served := api.Routes()
	slices.Sort(served)
	slices.Sort(documented)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not documented: %s", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("documented but not served: %s", r)
		}
	}
	if len(served) < 15 {
		t.Errorf("only %d routes served?", len(served))
	}
}
