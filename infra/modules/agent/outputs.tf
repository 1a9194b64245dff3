output "namespace" {
  description = "Namespace the agent runs in."
  value       = local.namespace
}

output "manifest_sha256" {
  description = "SHA-256 of the applied deploy/kubernetes/agent manifest with this region's values."
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

output "control_url" {
  description = "URL of the control plane the agent dials."
  value       = var.control_url
}

output "region_token_sha256" {
  description = "SHA-256 of the token the agent was given."
  value       = local.region_token_sha256
}
