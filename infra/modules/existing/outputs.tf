output "namespace" {
  description = "Namespace the platform runs in."
  value       = local.namespace
}

output "manifest_sha256" {
  description = "SHA-256 of the applied deploy/kubernetes manifest with this region's values."
  value       = module.install.manifest_sha256
}

output "gateway_endpoint" {
  description = "URL of the region's gateway: under the platform's domain when it has one, else the platform Service's in-cluster name (exposing it outside the cluster is the operator's)."
  value       = var.domain != "" ? "https://${var.region}.${var.domain}" : "http://platform.${local.namespace}.svc"
}

output "kubeconfig_ref" {
  description = "Reference to the cluster's credentials: the kubeconfig file and context the operator named; never the credentials themselves."
  value       = "kubeconfig:${var.kubeconfig}${var.kube_context == "" ? "" : "#${var.kube_context}"}"
}

output "region_tokens" {
  description = "Each agent region's token, by name: its agent presents it to the control plane."
  value       = module.tokens.tokens
  sensitive   = true
}

output "region_token_hashes" {
  description = "The region tokens file the control plane reads at start: JSON of each agent region's token hash, provider and location."
  value       = module.tokens.seeds
}
