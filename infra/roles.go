package infra

import (
	"context"
	"encoding/json"

	"github.com/micro/platform"
)

// controlOutputs is what the agent regions need of the control region's outputs: the
// control plane's URL (its gateway_endpoint: the API and the gateway share the port) and
// each agent region's token.
type controlOutputs struct {
	applied bool
	url     string
	tokens  map[string]string
}

// readControl reads the control region's outputs from its state. An unapplied control
// region is no error: agentVars reports it for each agent region.
func (e *Engine) readControl(ctx context.Context, cfg Config) (controlOutputs, error) {
	control := cfg.Platform.Control
	var c controlOutputs
	tf, flush, err := e.initRegion(ctx, cfg, control)
	if err != nil {
		return c, platform.Errorf(platform.ErrorCode(err), "read the control region %s's state: %s", control, platform.ErrorMessage(err))
	}
	defer flush()
	outputs, sensitive, err := e.outputs(ctx, control, tf)
	if err != nil {
		return c, platform.Errorf(platform.ErrorCode(err), "read the control region %s's state: %s", control, platform.ErrorMessage(err))
	}
	// A region never applied, or destroyed, has no outputs.
	c.applied, c.url = outputs["region"] != "", outputs["gateway_endpoint"]
	c.tokens, err = decodeTokens(control, sensitive[OutputRegionTokens])
	return c, err
}

// decodeTokens decodes the control region's region_tokens output, a JSON object; "" when
// the state has none.
func decodeTokens(control, raw string) (map[string]string, error) {
	tokens := map[string]string{}
	if raw == "" {
		return tokens, nil
	}
	if err := json.Unmarshal([]byte(raw), &tokens); err != nil {
		// The value is a secret: never quote it.
		return nil, platform.Errorf(platform.EINTERNAL, "the control region %s's %s output is not a map of region name to token", control, OutputRegionTokens)
	}
	return tokens, nil
}

// agentVars returns the secret root variables of the agent region called region, or why
// the control region cannot give them yet (EINVALID, saying what to apply).
func (c controlOutputs) agentVars(cfg Config, region string) (map[string]string, error) {
	control := cfg.Platform.Control
	switch {
	case !c.applied:
		return nil, platform.Errorf(platform.EINVALID, "the control region %s is not applied yet: its agent needs the control plane's URL and its token", control).
			WithHint("apply the control region first: platform infra apply --region %s (platform infra apply without --region applies it before the others)", control)
	case c.tokens[region] == "":
		return nil, platform.Errorf(platform.EINVALID, "the control region %s has no token for %s yet", control, region).
			WithHint("apply the control region again, which makes it: platform infra apply --region %s", control)
	case c.url == "":
		return nil, platform.Errorf(platform.EINVALID, "the control region %s has no gateway endpoint yet: its load balancer has no address", control).
			WithHint("apply the control region again once its load balancer has one: platform infra apply --region %s", control)
	}
	return map[string]string{VarControlURL: c.url, VarRegionToken: c.tokens[region]}, nil
}

// agentPlaceholders are an agent region's root variables when the control region cannot
// give them: a plan made before it is applied, and a destroy, which needs neither.
func agentPlaceholders() map[string]string {
	return map[string]string{VarControlURL: "", VarRegionToken: ""}
}

// inRegion prefixes err's message with the region it concerns, keeping its code and hint.
func inRegion(region string, err error) error {
	e := platform.Errorf(platform.ErrorCode(err), "region %s: %s", region, platform.ErrorMessage(err))
	if hint := platform.ErrorHint(err); hint != "" {
		e = e.WithHint("%s", hint)
	}
	return e
}
