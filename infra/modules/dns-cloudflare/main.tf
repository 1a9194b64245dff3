# Global DNS and load balancing across regions: one health monitor, one pool per region
# holding its gateway, and a proxied load balancer that steers to healthy pools.
# Credentials come from CLOUDFLARE_API_TOKEN in the caller's provider configuration.

data "cloudflare_zone" "this" {
  name = var.zone
}

resource "cloudflare_load_balancer_monitor" "gateway" {
  account_id     = var.account_id
  description    = "${var.name} gateway health"
  type           = "https"
  method         = "GET"
  path           = var.health_check_path
  expected_codes = "200"
  interval       = var.health_check_interval
  timeout        = 5
  retries        = 2
}

resource "cloudflare_load_balancer_pool" "region" {
  for_each = var.regions

  account_id = var.account_id
  name       = "${var.name}-${each.key}"
  monitor    = cloudflare_load_balancer_monitor.gateway.id

  origins {
    name    = each.key
    address = each.value.address
    enabled = each.value.enabled

    # The gateway sees, and its certificate names, the region's own hostname rather than
    # the load balancer's; the monitor probes with the same Host header.
    dynamic "header" {
      for_each = each.value.host_header == null ? [] : [each.value.host_header]
      content {
        header = "Host"
        values = [header.value]
      }
    }
  }
}

locals {
  # Sorted by region name so the pool order, and so the plan, is stable.
  pool_ids = [for name in sort(keys(var.regions)) : cloudflare_load_balancer_pool.region[name].id]
}

resource "cloudflare_load_balancer" "this" {
  zone_id          = data.cloudflare_zone.this.id
  name             = var.hostname
  default_pool_ids = local.pool_ids
  fallback_pool_id = local.pool_ids[0]
  steering_policy  = var.steering_policy
  proxied          = true
}
