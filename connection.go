package platform

import (
	"strings"
	"time"
)

// Developer connections (`platform connect`, `platform env`): a developer's own process
// joins a namespace's mesh, so that it registers there, is called by the deployed services
// and calls them, and go-micro's `micro` CLI works against the namespace unchanged. It
// connects with a mesh credential: a TokenMesh token of the developer's, narrowed to the
// namespace, short-lived and revocable like any token, presented to the mesh server as
// user MeshUser(token ID) with the token's secret as password.

// Limits of a mesh credential's lifetime (ConnectRequest.TTL).
const (
	DefaultConnectTTL = 8 * time.Hour
	MaxConnectTTL     = 24 * time.Hour
)

// meshUserPrefix prefixes the mesh server's user name of a mesh credential.
const meshUserPrefix = "dev."

// MeshUser is the mesh server's user name of the mesh credential whose token ID is id.
func MeshUser(id string) string { return meshUserPrefix + id }

// MeshTokenID returns the token ID of a mesh server user name made by MeshUser.
func MeshTokenID(user string) (string, bool) {
	id, ok := strings.CutPrefix(user, meshUserPrefix)
	return id, ok && id != ""
}

// ConnectRequest asks for a mesh credential (ControlPlane.Connect).
type ConnectRequest struct {
	Namespace string `json:"namespace"`
	// Name says where it is used, e.g. the developer's host name; default "connect".
	Name string `json:"name,omitempty"`
	// TTL is how long the credential lives: DefaultConnectTTL when 0, at most
	// MaxConnectTTL. Connections made with it are closed when it expires.
	TTL time.Duration `json:"ttl,omitempty"`
}

// MeshGrant is a new mesh credential: its token, its secret (shown once) and the
// environment that puts a go-micro process into the namespace's mesh with it.
type MeshGrant struct {
	Token  *Token `json:"token"`
	Secret string `json:"secret"`
	// User is the mesh server's user name (MeshUser of the token's ID).
	User string `json:"user"`
	// Env is MICRO_REGISTRY, MICRO_BROKER, MICRO_TRANSPORT and their _ADDRESS, and
	// go-micro's nats profile (MICRO_PROFILE, MICRO_NATS_ADDRESS: what go-micro's `micro`
	// CLI needs), pointing at the mesh server the platform tells developers to dial
	// directly (MeshURL), with the credential in the URLs. Holds the secret: never log it.
	Env map[string]string `json:"env"`
	// MeshURL is that server's address without credentials, e.g. "nats://10.88.0.1:4222".
	// From another machine it may not be reachable: `platform connect` tunnels to it
	// through the platform's own address instead (ControlPlane.DialMesh).
	MeshURL string `json:"mesh_url"`
}

// MeshConnection is a mesh credential and its use: the clients connected with it now.
type MeshConnection struct {
	Token   *Token       `json:"token"`
	Clients []MeshClient `json:"clients"`
}

// MeshClient is one live connection of a developer's process to the mesh.
type MeshClient struct {
	// Remote is the client's address as the mesh server sees it ("127.0.0.1:51234"
	// through a tunnel: the tunnel's end on the platform).
	Remote string `json:"remote"`
	// Name and Lang/Version are what the client said of itself (nats client name and
	// library).
	Name    string    `json:"name,omitempty"`
	Lang    string    `json:"lang,omitempty"`
	Version string    `json:"version,omitempty"`
	Since   time.Time `json:"since"`
	// InMsgs and OutMsgs count the messages from and to the client.
	InMsgs  int64 `json:"in_msgs"`
	OutMsgs int64 `json:"out_msgs"`
}

// DeveloperMesh is the mesh side of developer connections: what the mesh server of the
// platform's own region tells a credential's holder, and who is connected.
type DeveloperMesh interface {
	// DeveloperEnv returns the MICRO_* environment for mesh user user with password
	// secret in namespace ns, and the server's URL without credentials.
	DeveloperEnv(ns, user, secret string) (env map[string]string, url string, err error)
	// DeveloperClients returns the live clients of mesh credentials in ns, by token ID.
	DeveloperClients(ns string) (map[string][]MeshClient, error)
	// DeveloperAddr is the host:port a tunnel dials for namespace ns.
	DeveloperAddr(ns string) (string, error)
}

// MeshTunnelProtocol is the HTTP Upgrade protocol of the mesh tunnel
// (GET /v1/namespaces/{ns}/mesh): after "101 Switching Protocols" the connection carries
// the mesh server's own protocol (NATS) both ways, over the platform's address and its TLS.
const MeshTunnelProtocol = "micro-mesh"
