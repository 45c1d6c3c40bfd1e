package http_test

import (
	"net/http"
	"strings"
	"testing"
)

const jwksPath = "/.well-known/jwks.json"

// twoKeys is a key set as adapters/jwt renders one during a rotation.
const twoKeys = `{"keys":[` +
	`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","alg":"EdDSA","use":"sig"},` +
	`{"kty":"EC","crv":"P-256","x":"_8c2JfKPw-Uj80smTBS0-3SwK8WpYPxLiPaLna4MDJE","y":"xaf5LQ0AU_UcYskjkxHM0ftgEhjqKvPQwnGr-TCGUfk","kid":"GINa4JNv1EeLZoYubNrRHz_pZVyp_Pgn_WEsRpsS3QY","alg":"ES256","use":"sig"}]}`

func wantJWKS(t *testing.T, r *response, body string) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	if got := string(r.body); got != body {
		t.Errorf("body %s, want %s", got, body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type %q, want application/jwk-set+json", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q, want public, max-age=300", cc)
	}
	if p := r.header.Get("Pragma"); p != "" {
		t.Errorf("Pragma %q on a cacheable response", p)
	}
}

func TestJWKSServesTheKeySet(t *testing.T) {
	h := newHarness(t, withJWKS([]byte(twoKeys)))
	wantJWKS(t, h.get(jwksPath), twoKeys)
	wantJWKS(t, h.get(jwksPath+"/"), twoKeys)
	// No authentication is needed, and a bearer token changes nothing.
	wantJWKS(t, h.get(jwksPath, "Authorization", "Bearer not.a.token"), twoKeys)

	r := h.post(jwksPath, `{}`)
	wantProblem(t, r, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow %q", allow)
	}
}

func TestJWKSWithoutKeysIsEmpty(t *testing.T) {
	h := newHarness(t)
	wantJWKS(t, h.get(jwksPath), `{"keys":[]}`)
}

// TestJWKSDocumentRefusesSecrets: the document's schema admits public
// keys only, so a key set that leaked a private or symmetric key would
// fail every test that fetches it.
func TestJWKSDocumentRefusesSecrets(t *testing.T) {
	h := newHarness(t, withJWKS([]byte(twoKeys)))
	good := h.get(jwksPath)
	for name, body := range map[string]string{
		"Ed25519 private key (d)": strings.Replace(twoKeys, `"use":"sig"}`, `"use":"sig","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`, 1),
		"symmetric key":           `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x","alg":"HS256","use":"sig"}]}`,
		"RSA key":                 `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"x","alg":"RS256","use":"sig"}]}`,
		"no kid":                  strings.Replace(twoKeys, `"kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",`, "", 1),
		"alg of another curve":    strings.Replace(twoKeys, `"alg":"ES256"`, `"alg":"EdDSA"`, 1),
		"not a set":               `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			validateResponse(rec, newRequest(http.MethodGet, jwksPath, ""), &response{status: good.status, header: good.header.Clone(), body: []byte(body)})
			if len(rec.errors) == 0 {
				t.Errorf("the document accepts %s", body)
			}
		})
	}
}
