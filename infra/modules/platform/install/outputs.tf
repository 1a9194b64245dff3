output "namespace" {
  description = "Name and labels of the manifest's Namespace, its first document: the caller creates it before the Secrets and the apply."
  value = {
    name   = local.documents[0].metadata.name
    labels = local.documents[0].metadata.labels
  }
}

output "objects" {
  description = "Kind/name of every object the manifest holds, in order."
  value       = [for d in local.documents : "${d.kind}/${d.metadata.name}"]
}

output "manifest_sha256" {
  description = "SHA-256 of the applied manifest; it changes, and the manifest is applied again, when the image, registry, gateway domain, values or template does."
  value       = terraform_data.apply.triggers_replace.manifest
}

output "manifest" {
  description = "The rendered manifest (no secrets: those are separate Secrets)."
  value       = local.manifest
}
