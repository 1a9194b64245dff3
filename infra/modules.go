package infra

import (
	"embed"
	"io/fs"
)

//go:embed modules
var modulesFS embed.FS

// ModuleSource is the path, relative to a rendered root module, of the directory holding
// the shipped modules. The driver lays a working directory out as
//
//	<work>/modules/<module>/...   the contents of [Modules]
//	<work>/<region>/...           the output of [RenderRegion]
const ModuleSource = "../modules"

// Modules returns the Terraform modules shipped with the platform, one directory each:
// doks, eks, aks, gke, dns-cloudflare, dns-local, platform, agent, region-tokens and
// local.
func Modules() fs.FS {
	sub, err := fs.Sub(modulesFS, "modules")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "modules" is valid.
		panic(err)
	}
	return sub
}

// clusterModule names the shipped module that builds a region's cluster, per provider.
var clusterModule = map[string]string{
	ProviderDigitalOcean: "doks",
	ProviderAWS:          "eks",
	ProviderAzure:        "aks",
	ProviderGCP:          "gke",
	ProviderLocal:        "local",
	// An existing cluster is not built: its module installs the platform on it.
	ProviderExisting: "existing",
}

// providerPin is a provider a rendered root module requires, pinned as in the shipped
// modules' versions.tf.
type providerPin struct {
	name, source, version string
}

// cloudProviders lists the Terraform providers each provider kind's root module requires.
var cloudProviders = map[string]providerPin{
	ProviderDigitalOcean: {"digitalocean", "digitalocean/digitalocean", "~> 2.48"},
	ProviderAWS:          {"aws", "hashicorp/aws", "~> 5.70"},
	ProviderAzure:        {"azurerm", "hashicorp/azurerm", "~> 4.5"},
	ProviderGCP:          {"google", "hashicorp/google", "~> 6.8"},
}

// platformProviders are the providers every cloud root requires, whatever its role: the
// platform and agent modules need kubernetes, the platform module random.
var platformProviders = []providerPin{
	{"kubernetes", "hashicorp/kubernetes", "~> 2.33"},
	{"random", "hashicorp/random", "~> 3.6"},
}
