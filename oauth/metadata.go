package oauth

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	platform "github.com/micro/platform"
)

// AuthServerMetadata is the authorization server metadata (RFC 8414) the platform
// serves. (oauthex.AuthServerMeta would always write a jwks_uri, of which this server has
// none: its tokens are opaque.)
type AuthServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// AuthorizationResponseIssParameterSupported: every redirect to a client carries
	// iss (RFC 9207), so a client talking to several servers cannot be mixed up.
	AuthorizationResponseIssParameterSupported bool   `json:"authorization_response_iss_parameter_supported"`
	ServiceDocumentation                       string `json:"service_documentation,omitempty"`
}

// protectedResource serves the MCP endpoint's protected-resource metadata (RFC 9728): at
// the root and at /mcp for the endpoint of every namespace, at /mcp/{ns} for one
// namespace's. The platform is its own authorization server.
func (s *Server) protectedResource(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	resource := base + MCPPath
	if ns := r.PathValue("ns"); ns != "" {
		if platform.ValidateName("namespace", ns) != nil {
			http.NotFound(w, r)
			return
		}
		resource += "/" + ns
	}
	auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   []string{base},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Micro Platform MCP",
	}).ServeHTTP(w, r)
}

// authServer serves the authorization server metadata (RFC 8414).
func (s *Server) authServer(w http.ResponseWriter, r *http.Request) {
	if !allowCORS(w, r, http.MethodGet) {
		return
	}
	base := s.baseURL(r)
	writeJSON(w, http.StatusOK, AuthServerMetadata{
		Issuer:                                     base,
		AuthorizationEndpoint:                      base + AuthorizePath,
		TokenEndpoint:                              base + TokenPath,
		RegistrationEndpoint:                       base + RegisterPath,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{"authorization_code"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          []string{"none"},
		AuthorizationResponseIssParameterSupported: true,
	})
}
