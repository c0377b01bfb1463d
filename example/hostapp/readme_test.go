package hostapp_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeMarker names, in README.md, the compiled region the next ```go
// block is cut from: <!-- compiled: example/hostapp/hostapp.go#setup -->.
var readmeMarker = regexp.MustCompile(`<!-- compiled: example/hostapp/hostapp\.go#([a-z]+) -->\n+` + "```go\n" + `((?s:.*?))` + "```\n")

// goRegion matches one README region of hostapp.go.
var goRegion = regexp.MustCompile(`(?m)^\t*// README:begin ([a-z]+)\n((?s:.*?))^\t*// README:end ([a-z]+)\n`)

// TestReadmeIsCompiled fails when README.md's set-up blocks and the code
// they are cut from drift apart, in either direction: every marked block
// must equal its region of hostapp.go (less the indentation its lines share
// and blank lines at either end), and every region must be shown in README.md.
func TestReadmeIsCompiled(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("hostapp.go")
	require.NoError(t, err)

	regions := map[string]string{}
	for _, m := range goRegion.FindAllStringSubmatch(string(src), -1) {
		require.Equal(t, m[1], m[3], "region %q ends as %q", m[1], m[3])
		regions[m[1]] = normalize(m[2])
	}
	require.NotEmpty(t, regions, "hostapp.go has no README regions")

	shown := map[string]bool{}
	for _, m := range readmeMarker.FindAllStringSubmatch(string(readme), -1) {
		name, block := m[1], normalize(m[2])
		code, ok := regions[name]
		if !assert.True(t, ok, "README.md shows region %q, which hostapp.go does not have", name) {
			continue
		}
		assert.Equal(t, code, block, "README.md's block %q differs from hostapp.go's region: change both", name)
		shown[name] = true
	}
	for name := range regions {
		assert.True(t, shown[name], "hostapp.go's region %q is not shown in README.md (mark it <!-- compiled: example/hostapp/hostapp.go#%s -->)", name, name)
	}
}

// normalize drops the indentation all lines share (a function body's) and
// blank lines at either end.
func normalize(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if indent < 0 || n < indent {
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
