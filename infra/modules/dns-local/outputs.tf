output "hostname" {
  description = "Hostname the load balancer answers on."
  value       = terraform_data.load_balancer.output.hostname
}

output "pool_ids" {
  description = "Identifier of each region's pool, by region name."
  value       = { for name, pool in terraform_data.pool : name => pool.id }
}

output "monitor_id" {
  description = "Identifier of the health monitor shared by the pools."
  value       = terraform_data.monitor.id
}

output "origins" {
  description = "Address of each region's gateway in the load balancer, by region name."
  value       = { for name, pool in terraform_data.pool : name => pool.output.address }
}
