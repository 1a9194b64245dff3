output "cluster_id" {
  description = "Provider identifier of the cluster."
  value       = aws_eks_cluster.this.arn
}

output "host" {
  description = "URL of the cluster's Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_ca_certificate" {
  description = "PEM certificate of the API server's certificate authority."
  value       = base64decode(aws_eks_cluster.this.certificate_authority[0].data)
}

output "token" {
  description = "Bearer token for the Kubernetes API, or null when client certificates are used."
  value       = data.aws_eks_cluster_auth.this.token
  sensitive   = true
}

output "client_certificate" {
  description = "PEM client certificate for the Kubernetes API, or null when a token is used."
  value       = null
  sensitive   = true
}

output "client_key" {
  description = "PEM client key for the Kubernetes API, or null when a token is used."
  value       = null
  sensitive   = true
}

output "kubeconfig_ref" {
  description = "Reference the control plane uses to fetch credentials for this cluster; never the credentials themselves."
  value       = "aws:${aws_eks_cluster.this.arn}"
}
