package infra

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/micro/platform"
)

// GlobalRoot names the root module of global DNS and load balancing: its directory in the
// engine's work directory (<work>/global, beside <work>/<region>) and the last element of
// its state key, prefix, schema or path. No region may take this name.
const GlobalRoot = "global"

// GlobalHostPrefix is the label the load balancer's hostname starts with: the platform
// answers globally on api.<domain>. Each region's gateway answers on <region>.<domain>
// (see the platform module's gateway_endpoint output), so the apex of the domain stays free
// for a website or console, and "api" cannot be a region's name while DNS is set.
const GlobalHostPrefix = "api"

// GlobalHealthCheckPath is the path the load balancer's monitor probes on every region's
// gateway.
const GlobalHealthCheckPath = "/healthz"

// dnsProvider is the provider the global root requires, pinned as in the dns-cloudflare
// module's versions.tf.
var dnsProvider = providerPin{"cloudflare", "cloudflare/cloudflare", "~> 4.45"}

// GlobalHostname returns the hostname the load balancer answers on:
// [GlobalHostPrefix].<domain>, or .<zone> when the platform has no domain.
func GlobalHostname(p Platform) string {
	domain := p.Domain
	if domain == "" && p.DNS != nil {
		domain = p.DNS.Zone
	}
	return GlobalHostPrefix + "." + domain
}

// RenderGlobal renders the root module [GlobalRoot], which calls the dns-cloudflare module
// (or dns-local, for the [DNSLocal] provider, which needs no provider and no credentials)
// to load-balance [GlobalHostname] across every region of cfg, with one pool per region
// whose origin is the host of that region's gateway and a monitor probing
// [GlobalHealthCheckPath] over HTTPS. endpoints maps each region's name to its
// gateway_endpoint output, as [Engine.Apply] returns it (a URL such as
// https://lon1.example.dev, or a bare host); entries for regions not in cfg are ignored.
//
// The files are versions.tf, backend.tf (the configured backend, with a state key of its
// own ending in [GlobalRoot]), providers.tf (credentials from CLOUDFLARE_API_TOKEN only),
// main.tf and outputs.tf. The output depends only on its arguments, so rendering twice
// gives the same bytes. It returns EINVALID when cfg has no platform.dns, or listing every
// region with no endpoint or with an endpoint that is not a usable origin.
func RenderGlobal(cfg Config, endpoints map[string]string) (map[string][]byte, error) {
	dns := cfg.Platform.DNS
	if dns == nil {
		return nil, platform.Errorf(platform.EINVALID, "the config has no platform.dns: global load balancing is off")
	}
	if !slices.Contains(DNSProviders(), dns.Provider) {
		return nil, platform.Errorf(platform.EINVALID, "platform.dns: unknown provider %q (want %s)", dns.Provider, strings.Join(DNSProviders(), " or "))
	}
	origins, err := globalOrigins(cfg, endpoints)
	if err != nil {
		return nil, err
	}
	backend, err := renderBackend(cfg.Platform, GlobalRoot)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"versions.tf": renderGlobalVersions(dns.Provider),
		"backend.tf":  backend,
		"main.tf":     renderGlobalMain(cfg.Platform, origins),
		"outputs.tf":  renderGlobalOutputs(dns.Provider),
	}
	if dns.Provider == DNSCloudflare {
		files["providers.tf"] = renderGlobalProviders()
	}
	return files, nil
}

// globalOrigins returns the host of each region's gateway, by region name, or EINVALID
// listing every region whose endpoint is missing or unusable.
func globalOrigins(cfg Config, endpoints map[string]string) (map[string]string, error) {
	origins := make(map[string]string, len(cfg.Regions))
	var missing, bad []string
	for _, r := range cfg.Regions {
		ep := strings.TrimSpace(endpoints[r.Name])
		if ep == "" {
			missing = append(missing, r.Name)
			continue
		}
		host, err := originHost(ep)
		if err != nil {
			bad = append(bad, fmt.Sprintf("region %q: gateway endpoint %q: %v", r.Name, ep, err))
			continue
		}
		origins[r.Name] = host
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("no gateway endpoint for region %s: apply the regions first", quoteJoin(missing)))
	}
	problems = append(problems, bad...)
	if len(cfg.Regions) == 0 {
		problems = append(problems, "the config has no regions to load-balance")
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "\n"))
	}
	return origins, nil
}

// originHost returns the host of a gateway endpoint, a URL or a bare host. The monitor
// probes HTTPS and the load balancer proxies to the default port, so an endpoint on
// another port cannot serve as an origin.
func originHost(endpoint string) (string, error) {
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("not a URL: %w", err)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("no host")
	}
	if p := u.Port(); p != "" && p != "443" {
		return "", fmt.Errorf("port %s: the load balancer reaches origins on the default HTTPS port", p)
	}
	return strings.ToLower(u.Hostname()), nil
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func renderGlobalVersions(provider string) []byte {
	f := hclwrite.NewEmptyFile()
	tf := f.Body().AppendNewBlock("terraform", nil).Body()
	tf.SetAttributeValue("required_version", cty.StringVal(RootRequiredVersion))
	if provider != DNSCloudflare {
		return finish(f)
	}
	tf.AppendNewline()
	tf.AppendNewBlock("required_providers", nil).Body().SetAttributeValue(dnsProvider.name, cty.ObjectVal(map[string]cty.Value{
		"source":  cty.StringVal(dnsProvider.source),
		"version": cty.StringVal(dnsProvider.version),
	}))
	return finish(f)
}

// renderGlobalProviders configures the cloudflare provider with no credentials: it reads
// CLOUDFLARE_API_TOKEN from the engine's environment.
func renderGlobalProviders() []byte {
	f := hclwrite.NewEmptyFile()
	f.Body().AppendNewBlock("provider", []string{dnsProvider.name})
	header := fmt.Sprintf("%s# Credentials come from the environment: %s.\n", generatedHeader, strings.Join(ProviderEnv(DNSCloudflare), ", "))
	return append([]byte(header), finish(f)[len(generatedHeader):]...)
}

func renderGlobalMain(p Platform, origins map[string]string) []byte {
	f := hclwrite.NewEmptyFile()
	m := f.Body().AppendNewBlock("module", []string{"dns"}).Body()
	m.SetAttributeValue("source", cty.StringVal(ModuleSource+"/dns-"+p.DNS.Provider))
	m.AppendNewline()
	m.SetAttributeValue("name", cty.StringVal(p.Name))
	if p.DNS.Provider == DNSCloudflare {
		m.SetAttributeValue("account_id", cty.StringVal(p.DNS.AccountID))
	}
	m.SetAttributeValue("zone", cty.StringVal(p.DNS.Zone))
	m.SetAttributeValue("hostname", cty.StringVal(GlobalHostname(p)))
	m.SetAttributeValue("health_check_path", cty.StringVal(GlobalHealthCheckPath))
	// cty sorts object attributes, so the regions come out in name order.
	regions := make(map[string]cty.Value, len(origins))
	for name, host := range origins {
		origin := map[string]cty.Value{"address": cty.StringVal(host)}
		if _, err := netip.ParseAddr(host); err != nil {
			// A named gateway gets its own name as Host, which its certificate is for.
			origin["host_header"] = cty.StringVal(host)
		}
		regions[name] = cty.ObjectVal(origin)
	}
	m.SetAttributeValue("regions", cty.ObjectVal(regions))
	return finish(f)
}

func renderGlobalOutputs(provider string) []byte {
	f := hclwrite.NewEmptyFile()
	outputs := []struct{ name, desc, expr string }{
		{"hostname", "Hostname the load balancer answers on.", "module.dns.hostname"},
		{"pool_ids", "Identifier of each region's pool, by region name.", "module.dns.pool_ids"},
		{"monitor_id", "Identifier of the health monitor shared by the pools.", "module.dns.monitor_id"},
	}
	if provider == DNSLocal {
		outputs = append(outputs, struct{ name, desc, expr string }{"origins", "Address of each region's gateway in the load balancer, by region name.", "module.dns.origins"})
	}
	for i, o := range outputs {
		if i > 0 {
			f.Body().AppendNewline()
		}
		b := f.Body().AppendNewBlock("output", []string{o.name}).Body()
		b.SetAttributeValue("description", cty.StringVal(o.desc))
		b.SetAttributeTraversal("value", traversal(strings.Split(o.expr, ".")...))
	}
	return finish(f)
}
