package infra

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// maxAPIAllowedCIDRs is the most networks every provider's allow-list takes (EKS allows
// 40 public access CIDRs; GKE 50, AKS 200).
const maxAPIAllowedCIDRs = 40

// securityKeys are the keys of a security block, in the order messages list them.
var securityKeys = []string{SwitchAPIAllowedCIDRs, SwitchEnvelopeEncryption, SwitchFlowLogs, SwitchMetadataConcealment, SwitchPrivateNodes}

// security decodes a security block into o. provider is the region's provider kind, or
// "" for platform.security, whose switches apply to whichever regions take them.
func (d *decoder) security(n *yaml.Node, where, provider string, o *SecurityOverrides) {
	f := d.fields(n, where, securityKeys, "the cluster's switches take no credentials")
	if n.Kind != yaml.MappingNode {
		return
	}
	if provider != "" {
		takes := SecuritySwitches[provider]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; f[k] != nil && !slices.Contains(takes, k) {
				d.errorf(n.Content[i], "%s: %s does not apply to provider %s (it takes %s; see the Cloud clusters section of docs/security.md for why)", where, k, provider, strings.Join(takes, ", "))
				delete(f, k)
			}
		}
	}
	if v := f[SwitchAPIAllowedCIDRs]; v != nil {
		o.APIAllowedCIDRs = d.cidrs(v, where+": "+SwitchAPIAllowedCIDRs)
	}
	d.boolean(f[SwitchPrivateNodes], where+": "+SwitchPrivateNodes, &o.PrivateNodes)
	d.boolean(f[SwitchEnvelopeEncryption], where+": "+SwitchEnvelopeEncryption, &o.EnvelopeEncryption)
	d.boolean(f[SwitchFlowLogs], where+": "+SwitchFlowLogs, &o.FlowLogs)
	d.boolean(f[SwitchMetadataConcealment], where+": "+SwitchMetadataConcealment, &o.MetadataConcealment)
}

// cidrs decodes a non-empty list of IPv4 CIDRs. It returns an empty, non-nil list when
// the node is not a usable list, so that a missing-list message does not follow.
func (d *decoder) cidrs(n *yaml.Node, where string) []string {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list of IPv4 CIDRs such as [203.0.113.0/24]", where)
		return []string{}
	}
	if len(n.Content) == 0 {
		d.errorf(n, "%s: empty: list at least one network, or nobody (not even platform infra apply) can reach the cluster's API", where)
		return []string{}
	}
	if len(n.Content) > maxAPIAllowedCIDRs {
		d.errorf(n, "%s: %d networks, at most %d: aggregate them", where, len(n.Content), maxAPIAllowedCIDRs)
	}
	out := []string{}
	for _, item := range n.Content {
		p, err := netip.ParsePrefix(item.Value)
		switch {
		case item.Kind != yaml.ScalarNode || err != nil || !p.Addr().Is4():
			d.errorf(item, "%s: %q is not an IPv4 CIDR such as 203.0.113.0/24", where, item.Value)
		case p.Masked() != p:
			d.errorf(item, "%s: %q has host bits set (did you mean %s?)", where, item.Value, p.Masked())
		case slices.Contains(out, p.String()):
			d.errorf(item, "%s: %s listed twice", where, p)
		default:
			out = append(out, p.String())
		}
	}
	return out
}

// boolean decodes a scalar true or false; a missing node leaves dst unchanged.
func (d *decoder) boolean(n *yaml.Node, where string, dst **bool) {
	if n == nil {
		return
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n, "%s: want true or false, got %q", where, n.Value)
		return
	}
	*dst = &v
}

// regionSecurity resolves a cloud region's security: its own block (n, may be nil) over
// platform.security over [DefaultSecurity]. A local region takes none.
func (d *decoder) regionSecurity(region, n *yaml.Node, where string, p Platform, r *Region) {
	if r.Provider == ProviderExisting {
		return
	}
	if r.Provider == ProviderLocal {
		if n != nil {
			d.errorf(n, "%s: security does not apply to a local region (it models a cluster and has no cloud network or API to protect)", where)
		}
		return
	}
	s := DefaultSecurity()
	p.Security.apply(&s)
	var own SecurityOverrides
	if n != nil {
		d.security(n, where+": security", r.Provider, &own)
	}
	own.apply(&s)
	r.Security = s
	if s.APIAllowedCIDRs == nil {
		d.errorf(region, "%s: missing security.%s: the networks allowed to the cluster's Kubernetes API, which platform infra apply reaches with kubectl from where it runs; set it on the region or in platform.security, e.g. %s: [203.0.113.0/24], listing the public networks of the machines that run platform infra and kubectl", where, SwitchAPIAllowedCIDRs, SwitchAPIAllowedCIDRs)
	}
}

// securityArguments sets the security switches the region's cluster module takes, in
// [SecuritySwitches] order, each explicitly, so the rendered root says what it asks for.
func securityArguments(c *hclwrite.Body, r Region) {
	for _, k := range SecuritySwitches[r.Provider] {
		var v cty.Value
		switch k {
		case SwitchAPIAllowedCIDRs:
			cidrs := make([]cty.Value, len(r.Security.APIAllowedCIDRs))
			for i, c := range r.Security.APIAllowedCIDRs {
				cidrs[i] = cty.StringVal(c)
			}
			v = cty.ListValEmpty(cty.String)
			if len(cidrs) > 0 {
				v = cty.ListVal(cidrs)
			}
		case SwitchPrivateNodes:
			v = cty.BoolVal(r.Security.PrivateNodes)
		case SwitchEnvelopeEncryption:
			v = cty.BoolVal(r.Security.EnvelopeEncryption)
		case SwitchFlowLogs:
			v = cty.BoolVal(r.Security.FlowLogs)
		case SwitchMetadataConcealment:
			v = cty.BoolVal(r.Security.MetadataConcealment)
		default:
			panic(fmt.Sprintf("infra: no module argument for security switch %q", k))
		}
		c.SetAttributeValue(k, v)
	}
}
