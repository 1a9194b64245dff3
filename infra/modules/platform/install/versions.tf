# Needs no provider: the manifest is applied by kubectl from a local-exec provisioner, so
# nothing here talks to the cluster at plan time (the cluster does not exist yet on a
# region's first plan).
terraform {
  required_version = ">= 1.6.0"
}
