package loyalty

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// payuReadmeMarker finds, in README.md, the block of "Serving another
// contract" cut from payu.go's region "payu".
var payuReadmeMarker = regexp.MustCompile(`<!-- compiled: example/loyalty/payu\.go#payu -->\n+` + "```go\n" + `((?s:.*?))` + "```\n")

// payuRegion matches payu.go's region "payu".
var payuRegion = regexp.MustCompile(`(?m)^\t*// README:begin payu\n((?s:.*?))^\t*// README:end payu\n`)

// TestPayUReadmeIsCompiled fails when README.md's PayU block and the code
// it is cut from (mountPayU) drift apart.
func TestPayUReadmeIsCompiled(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("payu.go")
	require.NoError(t, err)
	region := payuRegion.FindStringSubmatch(string(src))
	require.NotNil(t, region, "payu.go has no README region payu")
	shown := payuReadmeMarker.FindStringSubmatch(string(readme))
	require.NotNil(t, shown, "README.md does not show payu.go#payu (mark its block <!-- compiled: example/loyalty/payu.go#payu -->)")
	assert.Equal(t, dedent(region[1]), dedent(shown[1]), "README.md's PayU block differs from payu.go's region: change both")
}

// dedent drops the indentation all lines share and blank lines at either
// end.
func dedent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, "\t")); indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = l[max(indent, 0):]
		}
	}
	return strings.Join(lines, "\n")
}
