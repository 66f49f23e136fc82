package main

// RPC plumbing for the resource types behind resourceHandler (ACL, Quota,
// UserScramCredential): unmarshal, bound the operation, call the handler,
// marshal. Secrets: inputs are unmarshalled with KeepSecrets and every
// output property that was secret in the inputs stays secret.

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// secretLike marks each top-level output secret where any source had it secret.
func secretLike(out resource.PropertyMap, sources ...resource.PropertyMap) resource.PropertyMap {
	for k, v := range out {
		if v.IsSecret() {
			continue
		}
		for _, src := range sources {
			if sv, ok := src[k]; ok && sv.ContainsSecrets() {
				out[k] = resource.MakeSecret(v)
				break
			}
		}
	}
	return out
}

func (p *kafkaProvider) createOther(ctx context.Context, h resourceHandler, req *pulumirpc.CreateRequest, news resource.PropertyMap) (*pulumirpc.CreateResponse, error) {
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	id, outs, created, err := h.create(ctx, k, news)
	if err != nil {
		if created && id != "" {
			return nil, p.initFailed(id, secretLike(outs, news), err)
		}
		return nil, err
	}
	props, err := p.marshal(secretLike(outs, news), "Create.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *kafkaProvider) readOther(ctx context.Context, h resourceHandler, req *pulumirpc.ReadRequest, oldProps, oldInputs resource.PropertyMap) (*pulumirpc.ReadResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "kafka provider: reading a resource needs its ID")
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	id, outs, inputs, err := h.read(ctx, k, req.GetId(), oldProps, oldInputs)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return &pulumirpc.ReadResponse{Id: ""}, nil // gone
	}
	outStruct, err := p.marshal(secretLike(outs, oldProps, oldInputs), "Read.outputs")
	if err != nil {
		return nil, err
	}
	inStruct, err := p.marshal(secretLike(inputs, oldInputs, oldProps), "Read.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: id, Properties: outStruct, Inputs: inStruct}, nil
}

func (p *kafkaProvider) updateOther(ctx context.Context, h resourceHandler, req *pulumirpc.UpdateRequest, news resource.PropertyMap) (*pulumirpc.UpdateResponse, error) {
	olds, err := p.unmarshal(req.GetOlds(), "Update.olds", true)
	if err != nil {
		return nil, err
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	outs, err := h.update(ctx, k, req.GetId(), olds, news)
	if err != nil {
		return nil, err
	}
	props, err := p.marshal(secretLike(outs, news), "Update.outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *kafkaProvider) deleteOther(ctx context.Context, h resourceHandler, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "kafka provider: deleting a resource needs its ID")
	}
	olds, err := p.unmarshal(req.GetProperties(), "Delete.properties", true)
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = p.unmarshal(req.GetOldInputs(), "Delete.oldInputs", true); err != nil {
			return nil, err
		}
	}
	k, err := p.kafka()
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	if err := h.delete(ctx, k, req.GetId(), olds); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
