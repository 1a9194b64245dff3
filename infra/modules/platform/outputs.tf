output "namespace" {
  description = "Namespace the platform runs in."
  value       = local.namespace
}

output "manifest_sha256" {
  description = "SHA-256 of the applied deploy/kubernetes manifest with this region's values."
  value       = module.install.manifest_sha256
}

output "gateway_address" {
  description = "External IP or hostname of the gateway's load balancer, or empty until it has one."
  value       = local.gateway_address == "-" ? "" : local.gateway_address
}

output "gateway_endpoint" {
  description = "URL of the region's gateway: under the platform's domain when it has one, else the load balancer's address (empty until it has one)."
  value       = var.domain != "" ? "https://${var.region}.${var.domain}" : (local.gateway_address == "-" ? "" : "http://${local.gateway_address}")
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
