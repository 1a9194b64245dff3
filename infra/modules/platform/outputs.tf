output "namespace" {
  description = "Namespace the platform runs in."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "release" {
  description = "Name and revision of the Helm release."
  value       = "${helm_release.platform.name}@${helm_release.platform.metadata[0].revision}"
}

output "gateway_address" {
  description = "External IP or hostname of the gateway's load balancer, or empty until it has one."
  value       = local.gateway_address == "-" ? "" : local.gateway_address
}

output "gateway_endpoint" {
  description = "URL of the region's gateway: under the platform's domain when it has one, else the load balancer's address (empty until it has one)."
  value       = var.domain != "" ? "https://${var.region}.${var.domain}" : (local.gateway_address == "-" ? "" : "http://${local.gateway_address}")
}
