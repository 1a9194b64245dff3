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
