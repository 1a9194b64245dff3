# One token per agent region, made by the control region: its agent presents it to the
# control plane, which knows only its SHA-256 (the seeds, the content of the Secret
# platform-region-tokens the control plane reads at start). Provider-free, so the local
# region kind runs the very same code with the real engine.
#
# A token is two version-4 UUIDs (uuid() reads the operating system's secure random
# source: 244 random bits) without dashes, 64 hexadecimal characters. It is made once,
# when the region is added, and kept in the state (ignore_changes: uuid() differs on every
# run); removing the region from var.regions deletes it, adding it back makes a new one.
# To rotate one, replace it: tofu apply -replace='module.<...>.terraform_data.token["fra1"]'.

resource "terraform_data" "token" {
  for_each = var.regions

  input = "${replace(uuid(), "-", "")}${replace(uuid(), "-", "")}"

  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  tokens = { for name, t in terraform_data.token : name => t.output }

  # control.ParseRegionSeeds reads this: region name to its token's hash, provider and
  # location. Never the tokens.
  seeds = jsonencode({
    for name, r in var.regions : name => {
      hash     = sha256(local.tokens[name])
      provider = r.provider
      location = r.location
    }
  })
}
