# Global load balancing modelled with the engine's built-in terraform_data resource and no
# provider, with the same variables and outputs as dns-cloudflare, so the global root is
# rendered, planned, applied, updated and destroyed for real without a DNS provider. One
# pool per region, as the load balancer has; a region's pool changes alone when its
# gateway does.

resource "terraform_data" "monitor" {
  input = {
    name     = "${var.name}-gateway"
    path     = var.health_check_path
    interval = var.health_check_interval
  }
}

resource "terraform_data" "pool" {
  for_each = var.regions

  input = {
    name        = "${var.name}-${each.key}"
    address     = each.value.address
    enabled     = each.value.enabled
    host_header = each.value.host_header
    monitor     = terraform_data.monitor.id
  }
}

resource "terraform_data" "load_balancer" {
  input = {
    zone            = var.zone
    hostname        = var.hostname
    steering_policy = var.steering_policy
    pools           = { for name, pool in terraform_data.pool : name => pool.id }
  }
}
