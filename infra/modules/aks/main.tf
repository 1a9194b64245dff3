# An Azure Kubernetes Service (AKS) cluster in its own resource group and virtual network
# with an autoscaling default node pool. Credentials come from the ARM_* environment.
#
# Hardening (docs/security.md, "Cloud clusters", says why):
#   - the API answers only api_allowed_cidrs (AKS adds the cluster's own egress address);
#   - Kubernetes RBAC on, Calico enforcing NetworkPolicy, nodes without public addresses;
#   - flow_logs: the virtual network's flows in a storage account of the region's own,
#     through the subscription's Network Watcher of the location.

resource "azurerm_resource_group" "this" {
  name     = "${var.name}-rg"
  location = var.location
}

resource "azurerm_virtual_network" "this" {
  name                = "${var.name}-vnet"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = [var.network_cidr]
}

resource "azurerm_subnet" "nodes" {
  name                 = "${var.name}-nodes"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [var.network_cidr]
}

resource "azurerm_kubernetes_cluster" "this" {
  name                = var.name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version

  # Not a switch: the platform's own identities (deploy/kubernetes/rbac.yaml) are RBAC.
  role_based_access_control_enabled = true

  api_server_access_profile {
    authorized_ip_ranges = var.api_allowed_cidrs
  }

  default_node_pool {
    name                   = "default"
    vm_size                = var.node_size
    vnet_subnet_id         = azurerm_subnet.nodes.id
    auto_scaling_enabled   = true
    min_count              = var.node_min
    max_count              = var.node_max
    node_public_ip_enabled = false
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
    # Not a switch: the platform isolates namespaces with NetworkPolicy, which AKS
    # enforces only with a policy engine.
    network_policy = "calico"
    # Services live outside the node network, so the two never overlap.
    service_cidr   = var.service_cidr
    dns_service_ip = cidrhost(var.service_cidr, 10)
  }

  lifecycle {
    precondition {
      condition     = var.node_min <= var.node_max
      error_message = "node_min must not exceed node_max."
    }
  }
}

data "azurerm_client_config" "this" {}

# Azure keeps one Network Watcher per subscription and location, created with the first
# virtual network of the location (NetworkWatcher_<location> in NetworkWatcherRG).
data "azurerm_network_watcher" "this" {
  count = var.flow_logs ? 1 : 0

  name                = coalesce(var.network_watcher_name, "NetworkWatcher_${var.location}")
  resource_group_name = var.network_watcher_resource_group
}

resource "azurerm_storage_account" "flow_logs" {
  count = var.flow_logs ? 1 : 0

  # Storage account names are global: 24 lowercase letters and digits at most.
  name                            = substr("fl${sha256("${data.azurerm_client_config.this.subscription_id}/${var.name}")}", 0, 24)
  resource_group_name             = azurerm_resource_group.this.name
  location                        = azurerm_resource_group.this.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
}

resource "azurerm_network_watcher_flow_log" "this" {
  count = var.flow_logs ? 1 : 0

  name                 = "${var.name}-vnet"
  network_watcher_name = data.azurerm_network_watcher.this[0].name
  resource_group_name  = data.azurerm_network_watcher.this[0].resource_group_name
  location             = var.location
  target_resource_id   = azurerm_virtual_network.this.id
  storage_account_id   = azurerm_storage_account.flow_logs[0].id
  enabled              = true
  version              = 2

  retention_policy {
    enabled = true
    days    = var.flow_log_retention_days
  }
}
