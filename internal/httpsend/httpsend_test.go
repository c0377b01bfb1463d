package httpsend

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBadCredential(t *testing.T) {
	for s, bad := range map[string]bool{
		"EAAG-token_0.9": false,
		"":               false,
		"a b":            true,
		"a\tb":           true,
		"a\nb":           true,
		"a\x00b":         true,
		"a\x7fb":         true,
		"ação":           false,
	} {
		if got := BadCredential(s); got != bad {
			t.Errorf("BadCredential(%q): got %v, want %v", s, got, bad)
		}
	}
}

// TestClientFollowsNoRedirect: a provider that answers with a redirect is
// answered with that response; its target is never asked, so credentials
// never travel there.
func TestClientFollowsNoRedirect(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed = true }))
	defer target.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c := Client(time.Second)
	if c.Timeout != time.Second {
		t.Errorf("got timeout %v, want 1s", c.Timeout)
	}
	resp, err := c.Post(api.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("got status %d, want 307", resp.StatusCode)
	}
	if followed {
		t.Error("got the redirect followed, want it refused")
	}
}
