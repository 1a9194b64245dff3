# Needs no provider: everything it does to the cluster is kubectl run by local-exec
# provisioners of the engine's built-in terraform_data, so it installs where only the
# engine itself is available.
terraform {
  required_version = ">= 1.6.0"
}
