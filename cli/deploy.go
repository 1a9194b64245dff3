package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/archive"
	"github.com/micro/platform/client"
)

// deployOptions are the flags of deploy.
type deployOptions struct {
	namespace, name, path, ref, version, size string
	canary                                    string
	replicas                                  int
	env                                       []string
	regions                                   []string
	commit                                    string
	detach                                    bool
}

func (a *app) deployCmd() *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:   "deploy DIR|GIT_URL",
		Short: "Build a service from source and roll it out",
		Long: "deploy uploads a local directory (or names a git repository the server clones), then\n" +
			"follows the build and rollout until the new release is live or has failed. The\n" +
			"previous release keeps serving until the new one is healthy.\n\n" +
			"--size sets the CPU and memory of each instance (its request and limit):\n" + sizeHelp() +
			"A redeploy without --size keeps the service's current size; a new service gets " + string(platform.DefaultSize) + ".\n\n" +
			"--regions places the service: each region runs --replicas instances of it. A redeploy\n" +
			"without --regions keeps the service's placement; a new service gets its namespace's\n" +
			"regions (see `platform namespaces create --regions`), or the platform's default region.\n\n" +
			"--canary PERCENT deploys the release as a canary: once healthy it runs beside the live\n" +
			"release and takes that share of the calls that send no Micro-Version header (a call\n" +
			"with `Micro-Version: VERSION` always reaches that version). `platform promote NAME`\n" +
			"then makes it the live release; a new deploy replaces it.",
		Example: `  platform deploy ./helloworld -n acme
  platform deploy https://github.com/acme/services.git --path helloworld --ref v1.2.0 -n acme
  platform deploy . -n acme --replicas 3 --size medium --env GREETING=hi --detach
  platform deploy ./helloworld -n acme --regions lon1,fra1
  platform deploy ./helloworld -n acme --canary 10%`,
		Args: args(1, 1, "a directory or a git URL"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return a.deploy(cmd, args[0], o)
		}),
	}
	f := cmd.Flags()
	addNamespaceFlag(cmd, &o.namespace)
	f.StringVar(&o.name, "name", "", "service name (default: the directory's, --path's or repository's last element)")
	f.StringVar(&o.path, "path", "", "subdirectory holding the service's main package")
	f.StringVar(&o.ref, "ref", "", "git branch, tag or commit (git sources only)")
	f.StringVar(&o.version, "version", "", "version name of the release (default: v1, v2, ...)")
	f.IntVar(&o.replicas, "replicas", 0, "number of instances (default: the service's current count, 1 for a new service)")
	f.StringVar(&o.size, "size", "", "size of each instance: "+platform.SizeNames()+" (default: the service's current size, "+string(platform.DefaultSize)+" for a new service)")
	f.StringArrayVar(&o.env, "env", nil, "environment variable K=V for the instances (repeatable)")
	f.StringSliceVar(&o.regions, "regions", nil, "regions to run the service in, comma separated (default: its current placement, or the namespace's regions)")
	f.StringVar(&o.canary, "canary", "", "deploy as a canary taking PERCENT (1 to 99, e.g. 10 or 10%) of the calls beside the live release, until `platform promote`")
	f.StringVar(&o.commit, "commit", "", "commit SHA the source is at, recorded with the release (default in GitHub Actions: GITHUB_SHA)")
	f.BoolVarP(&o.detach, "detach", "d", false, "return once the release is recorded, without following it")
	return cmd
}

// sizeHelp lists the sizes with their resources, one a line.
func sizeHelp() string {
	var b strings.Builder
	for _, s := range platform.Sizes() {
		fmt.Fprintf(&b, "  %s\n", s.Describe())
	}
	return b.String()
}

// isGitURL reports whether src names a remote repository rather than a local directory.
func isGitURL(src string) bool {
	return strings.Contains(src, "://") || strings.HasSuffix(src, ".git")
}

// deployRequest builds the request for src from o, without the archive digest, checking
// every flag at once.
func deployRequest(src string, o deployOptions) (platform.DeployRequest, error) {
	req := platform.DeployRequest{Service: o.name, Version: o.version, Replicas: o.replicas, Size: platform.Size(o.size)}
	var errs []error
	if o.replicas < 0 {
		errs = append(errs, fmt.Errorf("--replicas %d: must not be negative", o.replicas))
	}
	if err := req.Size.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--%s", platform.ErrorMessage(err)))
	}
	env, err := parseEnv(o.env)
	if err != nil {
		errs = append(errs, err)
	}
	req.Env = env
	if req.Regions, err = parseRegions(o.regions); err != nil {
		errs = append(errs, err)
	}
	if req.Canary, err = parseCanary(o.canary); err != nil {
		errs = append(errs, err)
	}
	if o.commit != "" {
		if !commitSHA.MatchString(o.commit) {
			errs = append(errs, fmt.Errorf("--commit %q: want a commit SHA (4 to 64 hex digits)", o.commit))
		}
		req.Origin = &platform.ReleaseOrigin{Kind: platform.OriginDeploy, Commit: strings.ToLower(o.commit)}
	}
	base := ""
	if isGitURL(src) {
		req.Source = platform.Source{Kind: platform.SourceGit, URL: src, Ref: o.ref, Path: o.path}
		base = strings.TrimSuffix(path.Base(strings.TrimRight(gitPath(src), "/")), ".git")
	} else {
		req.Source = platform.Source{Kind: platform.SourceArchive, Path: o.path}
		if o.ref != "" {
			errs = append(errs, errors.New("--ref: only a git source has refs; commit and deploy the directory instead"))
		}
		if abs, err := filepath.Abs(src); err == nil {
			base = filepath.Base(abs)
		}
	}
	if o.path != "" {
		base = path.Base(filepath.ToSlash(filepath.Clean(o.path)))
	}
	if req.Service == "" {
		req.Service = strings.ToLower(base)
	}
	if err := platform.ValidateName("service", req.Service); err != nil {
		errs = append(errs, fmt.Errorf("%s (pass --name NAME)", platform.ErrorMessage(err)))
	}
	if err := errors.Join(errs...); err != nil {
		return req, usageErrorf("%v", err)
	}
	return req, nil
}

// parseCanary parses --canary's percent, "10" or "10%"; "" is no canary (0).
func parseCanary(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")))
	if err != nil || n < 1 || n > 99 {
		return 0, fmt.Errorf("--canary %q: want a percent from 1 to 99, e.g. 10 or 10%%", s)
	}
	return n, nil
}

// commitSHA is what --commit takes: a full or abbreviated commit SHA (SHA-1 or SHA-256).
var commitSHA = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)

// actionsOrigin fills a deploy's origin, in a GitHub Actions job, with the repository,
// ref and commit GitHub sets (GITHUB_REPOSITORY, GITHUB_REF, GITHUB_SHA); --commit, in o,
// wins over GITHUB_SHA. Outside Actions it returns o as is.
func actionsOrigin(o *platform.ReleaseOrigin, env map[string]string) *platform.ReleaseOrigin {
	repo, ref, sha := env["GITHUB_REPOSITORY"], env["GITHUB_REF"], env["GITHUB_SHA"]
	if repo == "" && ref == "" && sha == "" {
		return o
	}
	out := &platform.ReleaseOrigin{Kind: platform.OriginDeploy}
	if o != nil {
		*out = *o
	}
	out.Repo, out.Ref, out.Commit = first(out.Repo, repo), first(out.Ref, ref), first(out.Commit, sha)
	return out
}

// gitPath returns the path part of a git URL (https://host/org/repo.git or
// git@host:org/repo.git).
func gitPath(src string) string {
	if u, err := url.Parse(src); err == nil && u.Path != "" {
		return u.Path
	}
	if _, p, ok := strings.Cut(src, ":"); ok {
		return p
	}
	return src
}

// parseEnv parses K=V pairs, reporting every malformed one.
func parseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(kvs))
	var errs []error
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			errs = append(errs, fmt.Errorf("--env %q: want KEY=VALUE", kv))
			continue
		}
		env[k] = v
	}
	return env, errors.Join(errs...)
}

func (a *app) deploy(cmd *cobra.Command, src string, o deployOptions) error {
	req, err := deployRequest(src, o)
	if err != nil {
		return err
	}
	c, ns, err := a.connectNS(cmd, o.namespace)
	if err != nil {
		return err
	}
	req.Namespace = ns
	req.Origin = actionsOrigin(req.Origin, a.env)
	ctx := cmd.Context()
	// The newest event before the deploy: following starts after it, so no event of the
	// new release can be missed however fast the platform is.
	latest, err := c.Events(ctx, platform.EventFilter{Namespace: ns, Limit: 1})
	if err != nil {
		return err
	}
	var afterID int64
	for _, e := range latest {
		afterID = e.ID
	}
	if req.Source.Kind == platform.SourceArchive {
		if req.Source.Archive, err = a.upload(ctx, c, ns, src); err != nil {
			return err
		}
	}
	rel, err := c.Deploy(ctx, req)
	if err != nil {
		return err
	}
	if o.detach {
		if a.jsonOutput() {
			return a.printJSON(rel)
		}
		fmt.Fprintf(a.stdout, "Deploying %s to %s%s: release %s (%s).\n", rel.Service, ns, inRegions(rel.Regions), rel.ID, rel.Version)
		fmt.Fprintf(a.stdout, "Follow it with `platform events -n %s --service %s -f`.\n", ns, rel.Service)
		return nil
	}
	if a.jsonOutput() {
		if err := a.printJSONLine(deployItem{Kind: "release", Release: rel}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "Deploying %s to %s%s: release %s (%s).\n", rel.Service, ns, inRegions(rel.Regions), rel.ID, rel.Version)
	}
	return a.followDeploy(ctx, c, rel, afterID)
}

// inRegions names the regions of a release for the deploy's first line: "" when it
// names none (the platform's default placement).
func inRegions(regions []string) string {
	if len(regions) == 0 {
		return ""
	}
	return " in " + strings.Join(regions, ", ")
}

// upload packs dir and streams it to the server, returning the archive's digest.
func (a *app) upload(ctx context.Context, c *client.Client, ns, dir string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return "", &usageError{err: platform.Errorf(platform.EINVALID, "%s is not a directory", dir).
			WithHint("pass the directory of a go-micro service, or a git URL")}
	}
	pr, pw := io.Pipe()
	counter := &countingWriter{w: pw}
	packed := make(chan error, 1)
	go func() {
		err := archive.Pack(dir, counter)
		pw.CloseWithError(err)
		packed <- err
	}()
	digest, upErr := c.UploadSource(ctx, ns, pr)
	pr.CloseWithError(errors.New("upload ended")) // unblocks Pack if the upload stopped early
	if packErr := <-packed; packErr != nil {
		return "", fmt.Errorf("pack %s: %w", dir, packErr)
	}
	if upErr != nil {
		return "", upErr
	}
	if !a.jsonOutput() {
		fmt.Fprintf(a.stdout, "Uploaded %s (%s, sha256 %s).\n", dir, archive.FormatSize(counter.n), shortDigest(digest))
	}
	return digest, nil
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// deployItem is one JSON line of a followed deploy with -o json.
type deployItem struct {
	Kind    string            `json:"kind"` // release, event or build_log
	Release *platform.Release `json:"release,omitempty"`
	Event   *platform.Event   `json:"event,omitempty"`
	Line    *string           `json:"line,omitempty"`
}

// terminalEvents end the following of a deploy when they concern its release.
var terminalEvents = []string{
	platform.EventReleaseRolledOut, platform.EventReleaseCanary, platform.EventBuildFailed,
	platform.EventReleaseFailed, platform.EventReleaseSuperseded,
}
