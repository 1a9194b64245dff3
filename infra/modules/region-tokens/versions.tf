# Needs no provider: the tokens are built-in terraform_data resources.
terraform {
  required_version = ">= 1.6.0"
}
