package gitops

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go-micro.dev/v5/cmd/micro/run/config"

	platform "github.com/micro/platform"
)

// Service is one service of a project at a commit.
type Service struct {
	Name string
	// Path is the service's directory, relative to the repository root ("" the root).
	Path string
	// Depends names services of the project that must serve before this one deploys.
	Depends []string
}

// Project is what a commit of a linked repository holds under the link's path.
type Project struct {
	// Services are in dependency order: every service after those it depends on.
	Services []Service
	// Env is the environment every service gets: the manifest's env block of the
	// deploy's environment name.
	Env map[string]string
	// Manifest is the file the services came from ("micro.mu", "micro.json"), "" when
	// they were found by their main.go.
	Manifest string
}

// skipDirs are directories LoadProject never looks for services in.
var skipDirs = map[string]bool{"vendor": true, "testdata": true, "node_modules": true}

// LoadProject reads the services of the checkout at root under dir (a link's path,
// slash-separated, "" the root). With a micro.mu or micro.json in dir — go-micro's own
// format, read by go-micro's parser — its services, in dependency order, and the env
// block named envName (else "production"); without one, every directory under dir with
// a main.go is a service named after the directory (dir itself after the repository,
// repoName). EINVALID, naming the problem, for a manifest go-micro would not take, a
// dependency cycle or unknown dependency, a service name the platform does not take, or
// a path leaving the repository.
func LoadProject(root, dir, repoName, envName string) (*Project, error) {
	dir = cleanDir(dir)
	base := filepath.Join(root, filepath.FromSlash(dir))
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		return nil, platform.Errorf(platform.EINVALID, "path %q does not exist in the repository", dir).
			WithHint("relink with --path naming the directory that holds the services")
	}
	// The checkout is the pusher's: a symlink must not make the platform read (and quote
	// in an error) a file of the server.
	if err := inside(root, base); err != nil {
		return nil, err
	}
	for _, m := range []string{"micro.mu", "micro.json"} {
		if st, err := os.Lstat(filepath.Join(base, m)); err == nil && !st.Mode().IsRegular() {
			return nil, platform.Errorf(platform.EINVALID, "%s is not a regular file (a symlink?): the platform reads only a manifest the repository holds", m)
		}
	}
	cfg, err := config.Load(base)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "%s", strings.ReplaceAll(err.Error(), root+string(filepath.Separator), ""))
	}
	if cfg != nil && len(cfg.Services) > 0 {
		return manifestProject(root, dir, cfg, envName)
	}
	return discoverProject(root, dir, repoName)
}

func manifestProject(root, dir string, cfg *config.Config, envName string) (*Project, error) {
	manifest := "micro.mu"
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir), "micro.mu")); err != nil {
		manifest = "micro.json"
	}
	sorted, err := cfg.TopologicalSort()
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "%s: %v", manifest, err)
	}
	// Kahn's order over a map is not stable: keep it a dependency order, ties by name.
	sorted = stableTopo(sorted)
	p := &Project{Manifest: manifest}
	for _, s := range sorted {
		if err := platform.ValidateName("service", s.Name); err != nil {
			return nil, platform.Errorf(platform.EINVALID, "%s: %s", manifest, platform.ErrorMessage(err))
		}
		rel := path.Join(dir, filepath.ToSlash(s.Path))
		if s.Path == "" || path.IsAbs(filepath.ToSlash(s.Path)) || !fs.ValidPath(rel) {
			return nil, platform.Errorf(platform.EINVALID, "%s: service %s has path %q: give a directory inside the repository, like ./%s", manifest, s.Name, s.Path, s.Name)
		}
		if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil || !st.IsDir() {
			return nil, platform.Errorf(platform.EINVALID, "%s: service %s has path %q, which does not exist", manifest, s.Name, s.Path)
		}
		if err := inside(root, filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			return nil, err
		}
		p.Services = append(p.Services, Service{Name: s.Name, Path: cleanDir(rel), Depends: slices.Sorted(slices.Values(s.Depends))})
	}
	if envName == "" {
		envName = "production"
	}
	if env := cfg.GetEnv(envName); env != nil {
		p.Env = env
	} else {
		p.Env = cfg.GetEnv("production")
	}
	return p, nil
}

// stableTopo orders services so that each comes after its dependencies, and otherwise
// by name. in is a valid topological order (no cycles).
func stableTopo(in []*config.Service) []*config.Service {
	done := map[string]bool{}
	var out []*config.Service
	rest := slices.Clone(in)
	slices.SortFunc(rest, func(a, b *config.Service) int { return strings.Compare(a.Name, b.Name) })
	for len(rest) > 0 {
		for i, s := range rest {
			if !slices.ContainsFunc(s.Depends, func(d string) bool { return !done[d] }) {
				out = append(out, s)
				done[s.Name] = true
				rest = slices.Delete(rest, i, i+1)
				break
			}
		}
	}
	return out
}

func discoverProject(root, dir, repoName string) (*Project, error) {
	base := filepath.Join(root, filepath.FromSlash(dir))
	var dirs []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != base && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "main.go" && d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			dirs = append(dirs, cleanDir(filepath.ToSlash(rel)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look for services: %w", err)
	}
	if len(dirs) == 0 {
		return nil, platform.Errorf(platform.EINVALID, "no micro.mu, micro.json or main.go under %q", displayDir(dir)).
			WithHint("add a micro.mu naming the services (service NAME / path DIR / depends OTHER), or link the directory of the service")
	}
	p := &Project{}
	for _, d := range dirs {
		name := path.Base(d)
		if d == dir || d == "" {
			name = repoName
		}
		name = strings.ToLower(name)
		if err := platform.ValidateName("service", name); err != nil {
			return nil, platform.Errorf(platform.EINVALID, "the service in %q: %s", displayDir(d), platform.ErrorMessage(err)).
				WithHint("name it in a micro.mu: service NAME / path %s", "./"+strings.TrimPrefix(strings.TrimPrefix(d, dir), "/"))
		}
		if slices.ContainsFunc(p.Services, func(s Service) bool { return s.Name == name }) {
			return nil, platform.Errorf(platform.EINVALID, "two services would be named %s (directories named alike)", name).
				WithHint("name them in a micro.mu")
		}
		p.Services = append(p.Services, Service{Name: name, Path: d})
	}
	slices.SortFunc(p.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return p, nil
}

// Affected returns the services of p a change of the given paths (relative to the
// repository root) touches, in p's order: each changed path belongs to the service whose
// directory holds it most closely; a change to the manifest, to go.mod or go.sum, or to
// Go code outside every service's directory (shared packages) touches every service.
// Other files outside the services (docs, CI) touch none. With complete false (the
// changes are not known) every service is touched.
func (p *Project) Affected(changed []string, complete bool, dir string) []Service {
	if !complete {
		return slices.Clone(p.Services)
	}
	dir = cleanDir(dir)
	touched := map[string]bool{}
	for _, c := range changed {
		c = strings.TrimPrefix(path.Clean(c), "/")
		if owner := p.owner(c); owner != "" {
			touched[owner] = true
			continue
		}
		b := path.Base(c)
		switch {
		case (b == "micro.mu" || b == "micro.json") && path.Dir(c) == orDot(dir),
			b == "go.mod", b == "go.sum", b == "go.work", b == "go.work.sum",
			strings.HasSuffix(c, ".go"):
			return slices.Clone(p.Services)
		}
	}
	var out []Service
	for _, s := range p.Services {
		if touched[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// owner names the service whose directory holds file most closely, "" for none.
func (p *Project) owner(file string) string {
	best, bestLen := "", -1
	for _, s := range p.Services {
		if (s.Path == "" || file == s.Path || strings.HasPrefix(file, s.Path+"/")) && len(s.Path) > bestLen {
			best, bestLen = s.Name, len(s.Path)
		}
	}
	return best
}

// Service returns the named service of p.
func (p *Project) Service(name string) (Service, bool) {
	i := slices.IndexFunc(p.Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return p.Services[i], true
}

// inside refuses a directory of the checkout at root that a symlink takes outside it.
func inside(root, dir string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("resolve the checkout: %w", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return platform.Errorf(platform.EINVALID, "%s cannot be read", strings.TrimPrefix(dir, root))
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return platform.Errorf(platform.EINVALID, "%s leads outside the repository (a symlink)", strings.TrimPrefix(dir, root))
	}
	return nil
}

// cleanDir is a slash-separated directory relative to the root, "" for the root.
func cleanDir(d string) string {
	d = path.Clean("/" + strings.TrimSpace(filepath.ToSlash(d)))
	return strings.TrimPrefix(d, "/")
}

func orDot(d string) string {
	if d == "" {
		return "."
	}
	return d
}

func displayDir(d string) string {
	if d == "" {
		return "/"
	}
	return d
}
