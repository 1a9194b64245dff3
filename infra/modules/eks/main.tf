# An Amazon EKS cluster in its own VPC with one autoscaling managed node group.
# Credentials come from the AWS_* environment of the caller.
#
# Hardening (each switch is a variable; docs/security.md, "Cloud clusters", says why):
#   - the API's public endpoint answers only api_allowed_cidrs; nodes and pods use the
#     private endpoint inside the VPC;
#   - private_nodes: nodes in private subnets without public addresses, egress through a
#     NAT gateway; the public subnets hold only the NAT gateway and load balancers;
#   - envelope_encryption: Secrets encrypted with a KMS key of the cluster's own;
#   - flow_logs: the VPC's flows in CloudWatch Logs;
#   - metadata_concealment: IMDSv2 only, hop limit 1, so pods cannot take the node's role;
#   - always: the VPC CNI enforces NetworkPolicy, which the platform's tenant isolation is.

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  zones = slice(data.aws_availability_zones.available.names, 0, 2)
  # Nodes live in the private subnets unless private_nodes is off.
  node_subnets = var.private_nodes ? aws_subnet.private[*].id : aws_subnet.public[*].id
}

resource "aws_vpc" "this" {
  cidr_block           = var.network_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = "${var.name}-vpc"
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name}-igw"
  }
}

resource "aws_subnet" "public" {
  count = length(local.zones)

  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.network_cidr, 4, count.index)
  # Only nodes placed here (private_nodes off) need an address of their own; load
  # balancers and the NAT gateway get theirs explicitly.
  map_public_ip_on_launch = !var.private_nodes

  tags = {
    Name                                = "${var.name}-public-${local.zones[count.index]}"
    "kubernetes.io/role/elb"            = "1"
    "kubernetes.io/cluster/${var.name}" = "shared"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_subnet" "private" {
  count = var.private_nodes ? length(local.zones) : 0

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.zones[count.index]
  cidr_block              = cidrsubnet(var.network_cidr, 4, count.index + length(local.zones))
  map_public_ip_on_launch = false

  tags = {
    Name                                = "${var.name}-private-${local.zones[count.index]}"
    "kubernetes.io/role/internal-elb"   = "1"
    "kubernetes.io/cluster/${var.name}" = "shared"
  }
}

resource "aws_eip" "nat" {
  count = var.private_nodes ? 1 : 0

  domain = "vpc"

  tags = {
    Name = "${var.name}-nat"
  }
}

# One NAT gateway, in the first zone: the nodes' egress (image pulls, the control plane's
# URL for an agent) depends on that zone. One per zone would cost twice as much.
resource "aws_nat_gateway" "this" {
  count = var.private_nodes ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id

  tags = {
    Name = "${var.name}-nat"
  }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  count = var.private_nodes ? 1 : 0

  vpc_id = aws_vpc.this.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[0].id
  }
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.flow_logs ? 1 : 0

  name              = "/aws/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_log_retention_days
}

resource "aws_iam_role" "flow_logs" {
  count = var.flow_logs ? 1 : 0

  name               = "${var.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.assume["vpc-flow-logs.amazonaws.com"].json
}

data "aws_iam_policy_document" "flow_logs" {
  count = var.flow_logs ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.flow_logs[0].arn, "${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.flow_logs ? 1 : 0

  name   = "flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

resource "aws_flow_log" "this" {
  count = var.flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn
}

data "aws_iam_policy_document" "assume" {
  for_each = toset(["eks.amazonaws.com", "ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com"])

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [each.key]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.name}-cluster"
  assume_role_policy = data.aws_iam_policy_document.assume["eks.amazonaws.com"].json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_kms_key" "secrets" {
  count = var.envelope_encryption ? 1 : 0

  description             = "Envelope encryption of the Kubernetes Secrets of EKS cluster ${var.name}."
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "secrets" {
  count = var.envelope_encryption ? 1 : 0

  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets[0].key_id
}

# The cluster's role may use the key for Secrets and nothing else.
data "aws_iam_policy_document" "secrets" {
  count = var.envelope_encryption ? 1 : 0

  statement {
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
    resources = [aws_kms_key.secrets[0].arn]
  }
}

resource "aws_iam_role_policy" "secrets" {
  count = var.envelope_encryption ? 1 : 0

  name   = "secrets-encryption"
  role   = aws_iam_role.cluster.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-node"
  assume_role_policy = data.aws_iam_policy_document.assume["ec2.amazonaws.com"].json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = each.key
}

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids = concat(aws_subnet.public[*].id, aws_subnet.private[*].id)
    # kubectl and the kubernetes provider of platform infra apply reach the public
    # endpoint from api_allowed_cidrs; nodes and pods (the platform's runtime driver)
    # use the private one, so the allow-list need not name the NAT gateway.
    endpoint_public_access  = true
    public_access_cidrs     = var.api_allowed_cidrs
    endpoint_private_access = true
  }

  dynamic "encryption_config" {
    for_each = var.envelope_encryption ? [aws_kms_key.secrets[0].arn] : []

    content {
      resources = ["secrets"]

      provider {
        key_arn = encryption_config.value
      }
    }
  }

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_iam_role_policy.secrets]
}

# The VPC CNI as a managed add-on with its network policy agent: without it EKS stores
# the NetworkPolicies the platform writes per namespace and enforces none of them.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  configuration_values        = jsonencode({ enableNetworkPolicy = "true" })
}

# The nodes' instance metadata: IMDSv2 only, and (metadata_concealment) a hop limit of 1,
# which host-network pods (the VPC CNI) cross and pods in their own network namespace do
# not: they cannot take the node role's credentials.
resource "aws_launch_template" "nodes" {
  name_prefix = "${var.name}-nodes-"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = var.metadata_concealment ? "required" : "optional"
    http_put_response_hop_limit = var.metadata_concealment ? 1 : 2
  }
}

resource "aws_eks_node_group" "default" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${var.name}-default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = local.node_subnets
  instance_types  = [var.node_size]

  launch_template {
    id      = aws_launch_template.nodes.id
    version = aws_launch_template.nodes.latest_version
  }

  scaling_config {
    desired_size = var.node_min
    min_size     = var.node_min
    max_size     = var.node_max
  }

  lifecycle {
    # The cluster autoscaler owns the desired size once the group exists.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = var.node_min <= var.node_max
      error_message = "node_min must not exceed node_max."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_route_table_association.private]
}

data "aws_eks_cluster_auth" "this" {
  name = aws_eks_cluster.this.name
}
