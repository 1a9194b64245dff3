package builder

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	platform "github.com/micro/platform"
)

// Bounds on what endpointDocs reads and keeps. The docs travel with every service view,
// so a source cannot make them large; past the file bounds the docs found so far are kept.
const (
	maxDocEndpoints   = 500
	maxDocDescription = 2 << 10
	maxDocExample     = 8 << 10
	maxDocFiles       = 2000
	maxDocFileBytes   = 1 << 20
	maxDocTotalBytes  = 32 << 20
)

// examplePattern is go-micro's (server/comments.go): "@example" and what follows it up to
// the first blank line or the end of the comment.
var examplePattern = regexp.MustCompile(`@example\s+([\s\S]+?)(?:\n\s*\n|$)`)

// endpointDocs reads the doc comments of the handler methods in the Go files of src, the
// service's main package directory, and its subdirectories, the way go-micro reads them at
// run time from the source a -trimpath binary no longer has. It returns them by endpoint
// name ("Helloworld.Call": go-micro names an endpoint after its handler's type), or nil
// when there are none. It never fails: a file that does not parse has no docs, and the
// compiler reports it. Vendored code, testdata, tests, hidden directories and nested
// modules are not part of the service and are skipped; when two files document the same
// endpoint (per-platform files), the first in the main package directory, then in
// lexical order, wins.
func endpointDocs(ctx context.Context, src string) map[string]platform.EndpointDoc {
	files := docFiles(src)
	docs := map[string]platform.EndpointDoc{}
	fset := token.NewFileSet()
	total := 0
	for _, f := range files {
		if ctx.Err() != nil || len(docs) >= maxDocEndpoints || total >= maxDocTotalBytes {
			break
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		total += len(data)
		file, err := parser.ParseFile(fset, f, data, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		fileDocs(file, docs)
	}
	if len(docs) == 0 {
		return nil
	}
	return docs
}

// docFiles lists the Go files endpointDocs reads: those of src first, then those of its
// subdirectories, each in lexical order, at most maxDocFiles of them.
func docFiles(src string) []string {
	var files []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: no docs from there
		}
		name := d.Name()
		if d.IsDir() {
			if p == src {
				return nil
			}
			if name == "vendor" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Lstat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		// Regular files only: a symbolic link may point out of the source.
		if !d.Type().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > maxDocFileBytes {
			return nil
		}
		files = append(files, p)
		if len(files) >= maxDocFiles {
			return filepath.SkipAll
		}
		return nil
	})
	// The main package directory first; WalkDir already lists each directory lexically.
	slices.SortStableFunc(files, func(a, b string) int {
		return boolInt(filepath.Dir(a) != src) - boolInt(filepath.Dir(b) != src)
	})
	return files
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fileDocs adds to docs what the handler methods of file document, up to
// maxDocEndpoints; an endpoint already in docs keeps what it has.
func fileDocs(file *ast.File, docs map[string]platform.EndpointDoc) {
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Doc == nil || !isHandlerMethod(fn) {
			continue
		}
		typ := receiverName(fn.Recv.List[0].Type)
		if typ == "" || !ast.IsExported(typ) {
			continue
		}
		name := typ + "." + fn.Name.Name
		if _, ok := docs[name]; ok {
			continue
		}
		d := parseDocComment(fn.Doc.Text())
		if d == (platform.EndpointDoc{}) {
			continue
		}
		if len(docs) >= maxDocEndpoints {
			return
		}
		docs[name] = d
	}
}

// isHandlerMethod reports whether fn has the shape of a go-micro handler method: an
// exported method whose first parameter is a context.Context, followed by a request and
// a response (or by a stream alone), returning just an error.
func isHandlerMethod(fn *ast.FuncDecl) bool {
	if fn.Recv == nil || len(fn.Recv.List) != 1 || !fn.Name.IsExported() {
		return false
	}
	if fn.Type.TypeParams != nil || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
		return false
	}
	if res := fn.Type.Results.List[0]; len(res.Names) > 1 || !isIdent(res.Type, "error") {
		return false
	}
	var params []ast.Expr
	for _, f := range fn.Type.Params.List {
		for range max(len(f.Names), 1) {
			params = append(params, f.Type)
		}
	}
	if len(params) != 2 && len(params) != 3 {
		return false
	}
	// context.Context, under whatever name the file imports the package.
	sel, ok := params[0].(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Context"
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// receiverName is the type name of a receiver T or *T; "" for anything else (a generic
// type, which go-micro cannot name as a handler).
func receiverName(e ast.Expr) string {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// parseDocComment splits a doc comment the way go-micro's parseComment does: the first
// "@example" section is the example, and the rest, without any "@example" section, is
// the description, cut to its first sentence past 200 bytes. Unlike go-micro it keeps
// an example only if it is valid JSON of at most maxDocExample bytes, since the dashboard
// puts it in a form as the request body, and cuts a description to maxDocDescription.
func parseDocComment(comment string) platform.EndpointDoc {
	var d platform.EndpointDoc
	if m := examplePattern.FindStringSubmatch(comment); m != nil {
		if ex := strings.TrimSpace(m[1]); len(ex) <= maxDocExample && json.Valid([]byte(ex)) {
			d.Example = ex
		}
		comment = examplePattern.ReplaceAllString(comment, "")
	}
	d.Description = strings.TrimSpace(comment)
	if len(d.Description) > 200 {
		if s := new(doc.Package).Synopsis(d.Description); s != "" {
			d.Description = s
		}
	}
	d.Description = truncateUTF8(d.Description, maxDocDescription)
	return d
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
