package frameworks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeMarker names, in README.md, the recipe region the next ```go block
// is cut from: <!-- compiled: example/frameworks/ginapp/ginapp.go#gin -->.
var readmeMarker = regexp.MustCompile(`<!-- compiled: example/frameworks/([a-z/]+\.go)#([a-z-]+) -->\n+` + "```go\n" + `((?s:.*?))` + "```\n")

// goRegion matches one README region of a recipe.
var goRegion = regexp.MustCompile(`(?m)^\t*// README:begin ([a-z-]+)\n((?s:.*?))^\t*// README:end ([a-z-]+)\n`)

// TestReadmeIsCompiled fails when README.md's framework blocks and the
// recipes they are cut from drift apart: every marked block must equal its
// region (less the indentation its lines share and blank lines at either
// end), and every region must be shown in README.md.
func TestReadmeIsCompiled(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	files, err := filepath.Glob("*/*.go")
	require.NoError(t, err)

	regions := map[string]string{} // by "chiapp/chiapp.go#chi"
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range goRegion.FindAllStringSubmatch(string(src), -1) {
			require.Equal(t, m[1], m[3], "%s: region %q ends as %q", f, m[1], m[3])
			regions[filepath.ToSlash(f)+"#"+m[1]] = normalize(m[2])
		}
	}
	require.NotEmpty(t, regions, "the recipes have no README regions")

	shown := map[string]bool{}
	for _, m := range readmeMarker.FindAllStringSubmatch(string(readme), -1) {
		name, block := m[1]+"#"+m[2], normalize(m[3])
		code, ok := regions[name]
		if !assert.True(t, ok, "README.md shows %s, which is no recipe region", name) {
			continue
		}
		assert.Equal(t, code, block, "README.md's block %s differs from the recipe: change both", name)
		shown[name] = true
	}
	for name := range regions {
		assert.True(t, shown[name], "region %s is not shown in README.md (mark it <!-- compiled: example/frameworks/%s -->)", name, name)
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
