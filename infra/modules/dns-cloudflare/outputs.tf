output "hostname" {
  description = "Hostname the load balancer answers on."
  value       = cloudflare_load_balancer.this.name
}

output "pool_ids" {
  description = "Identifier of each region's pool, by region name."
  value       = { for name, pool in cloudflare_load_balancer_pool.region : name => pool.id }
}

output "monitor_id" {
  description = "Identifier of the health monitor shared by the pools."
  value       = cloudflare_load_balancer_monitor.gateway.id
}
