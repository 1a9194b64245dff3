package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	platform "github.com/micro/platform"
	"github.com/micro/platform/natsbus"
)

func init() { register((*app).meshCmd) }

// meshFlags are the flags of `platform mesh`; each falls back to an environment variable.
type meshFlags struct {
	data, listen, secretFile, logFormat string
}

func (a *app) meshCmd() *cobra.Command {
	var mf meshFlags
	cmd := &cobra.Command{
		Use:   "mesh",
		Short: "Run a mesh node: the platform's NATS server, for a server started with nats_url",
		Long: "mesh runs the platform's NATS server (JetStream, one account per namespace) in a\n" +
			"process of its own until interrupted, for a platform server whose config sets\n" +
			"nats_url to it (on Kubernetes, the platform-mesh StatefulSet). It admits the\n" +
			"credentials the server derives from its secret key, so both must read the same\n" +
			"secret file: the server's DATA/secret.key. Flags fall back to PLATFORM_MESH_DATA,\n" +
			"PLATFORM_MESH_LISTEN, PLATFORM_MESH_SECRET_FILE and PLATFORM_LOG_FORMAT.",
		Example: `  platform mesh --data /var/lib/platform-mesh --listen 0.0.0.0:4222 --secret-file /etc/platform/secret.key`,
		Args:    args(0, 0, "no arguments"),
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			opts, err := a.meshOptions(cmd, mf)
			if err != nil {
				return err
			}
			node, err := natsbus.NewNode(opts)
			if err != nil {
				return err
			}
			return node.Start(cmd.Context())
		}),
	}
	f := cmd.Flags()
	f.StringVar(&mf.data, "data", "", "directory of the JetStream data and the namespace list (env PLATFORM_MESH_DATA; required)")
	f.StringVar(&mf.listen, "listen", "", "HOST:PORT to listen on (env PLATFORM_MESH_LISTEN; default 127.0.0.1:4222)")
	f.StringVar(&mf.secretFile, "secret-file", "", "the platform server's secret key file (env PLATFORM_MESH_SECRET_FILE; required)")
	f.StringVar(&mf.logFormat, "log-format", "", "text or json (env PLATFORM_LOG_FORMAT; default text)")
	return cmd
}

// meshOptions resolves the node's settings (flags over environment) and reads the secret.
// Every usage problem is reported at once.
func (a *app) meshOptions(cmd *cobra.Command, mf meshFlags) (natsbus.Options, error) {
	pick := func(flag, env, def string) string {
		if cmd.Flags().Changed(flag) {
			switch flag {
			case "data":
				return mf.data
			case "listen":
				return mf.listen
			case "secret-file":
				return mf.secretFile
			case "log-format":
				return mf.logFormat
			}
		}
		if v := a.env[env]; v != "" {
			return v
		}
		return def
	}
	data := pick("data", "PLATFORM_MESH_DATA", "")
	listen := pick("listen", "PLATFORM_MESH_LISTEN", "127.0.0.1:4222")
	secretFile := pick("secret-file", "PLATFORM_MESH_SECRET_FILE", "")
	logFormat := pick("log-format", "PLATFORM_LOG_FORMAT", outputText)

	var problems []string
	opts := natsbus.Options{Dir: data}
	if data == "" {
		problems = append(problems, "--data is required")
	}
	host, port, err := net.SplitHostPort(listen)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p < 0 || p > 65535 {
		problems = append(problems, fmt.Sprintf("--listen %q: want HOST:PORT", listen))
	}
	opts.Host, opts.Port = host, p
	switch logFormat {
	case "text":
		opts.Logger = slog.New(slog.NewTextHandler(a.stdout, nil))
	case "json":
		opts.Logger = slog.New(slog.NewJSONHandler(a.stdout, nil))
	default:
		problems = append(problems, fmt.Sprintf("--log-format %q: want text or json", logFormat))
	}
	if secretFile == "" {
		problems = append(problems, "--secret-file is required")
	}
	if len(problems) > 0 {
		return opts, usageErrorf("%s", strings.Join(problems, "; "))
	}
	opts.Secret, err = readSecret(secretFile)
	return opts, err
}

// readSecret reads the secret key file as the server does: its bytes as they are.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, platform.Errorf(platform.EINVALID, "secret file %s does not exist", path).
			WithHint("use the platform server's DATA/secret.key, or create one for both: head -c 32 /dev/urandom > %s", path)
	case err != nil:
		return nil, platform.Errorf(platform.EINVALID, "secret file: %v", err)
	case len(b) < 16:
		return nil, platform.Errorf(platform.EINVALID, "secret file %s holds %d bytes, want at least 16", path, len(b)).
			WithHint("create it with: head -c 32 /dev/urandom > %s", path)
	}
	return b, nil
}
