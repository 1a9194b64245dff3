output "cluster_id" {
  description = "Provider identifier of the cluster."
  value       = azurerm_kubernetes_cluster.this.id
}

output "host" {
  description = "URL of the cluster's Kubernetes API server."
  value       = azurerm_kubernetes_cluster.this.kube_config[0].host
}

output "cluster_ca_certificate" {
  description = "PEM certificate of the API server's certificate authority."
  value       = base64decode(azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
}

output "token" {
  description = "Bearer token for the Kubernetes API, or null when client certificates are used."
  value       = null
  sensitive   = true
}

output "client_certificate" {
  description = "PEM client certificate for the Kubernetes API, or null when a token is used."
  value       = base64decode(azurerm_kubernetes_cluster.this.kube_config[0].client_certificate)
  sensitive   = true
}

output "client_key" {
  description = "PEM client key for the Kubernetes API, or null when a token is used."
  value       = base64decode(azurerm_kubernetes_cluster.this.kube_config[0].client_key)
  sensitive   = true
}

output "kubeconfig_ref" {
  description = "Reference the control plane uses to fetch credentials for this cluster; never the credentials themselves."
  value       = "azure:${azurerm_kubernetes_cluster.this.id}"
}
