output "cluster_id" {
  description = "Identifier of the modelled cluster; changes when the cluster is replaced."
  value       = terraform_data.cluster.id
}

output "gateway_endpoint" {
  description = "URL of the region's gateway, derived from the region and domain."
  value       = var.domain == "" ? "http://${var.name}.${var.platform}.localhost" : "https://${var.name}.${var.domain}"
}

output "kubeconfig_ref" {
  description = "Reference to the modelled cluster's credentials; never the credentials themselves."
  value       = "local:${var.platform}/${var.name}"
}

output "nodes" {
  description = "Modelled node pool as applied."
  value       = terraform_data.node_pool.output
}

output "region_tokens" {
  description = "control role: each agent region's token, by name."
  value       = module.tokens.tokens
  sensitive   = true
}

output "region_token_hashes" {
  description = "control role: the region tokens file the control plane would read (JSON of each agent region's token hash, provider and location); empty for an agent."
  value       = var.role == "control" ? module.tokens.seeds : ""
}

output "control_url" {
  description = "agent role: the control plane's URL the agent was given."
  value       = var.control_url
}

output "region_token_sha256" {
  description = "agent role: SHA-256 of the token the agent was given."
  value       = local.region_token_sha256
}
