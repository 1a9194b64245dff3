output "tokens" {
  description = "Each agent region's token, by region name: what its agent presents (PLATFORM_REGION_TOKEN)."
  value       = local.tokens
  sensitive   = true
}

output "seeds" {
  description = "JSON of each agent region's token hash, provider and location, by region name: the region tokens file of the control plane (no token)."
  value       = local.seeds
}

output "seeds_sha256" {
  description = "SHA-256 of seeds: it changes, and rolls the control plane, when a region is added, removed or given a new token."
  value       = sha256(local.seeds)
}
