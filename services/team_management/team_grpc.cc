#include "services/team_management/team_grpc.h"

#include <utility>

#include "aimarket/team/v1/team_service.grpc.pb.h"
#include "common/grpc/call_adapters.h"

namespace aimarket::team {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// One line per RPC: the shim forwards to the TeamApi method of the same name.
#define AIM_TEAM_UNARY(Method, Req, Resp)                                                     \
  ServerUnaryReactor* Method(CallbackServerContext* ctx, const v1::Req* req, v1::Resp* resp)  \
      override {                                                                              \
    return grpcutil::ServeUnaryOn(                                                            \
        pool_, ctx, req, resp,                                                                \
        [this](const rpc::CallContext& cc, const v1::Req& r) { return api_.Method(cc, r); }); \
  }

class TeamServiceShim final : public v1::TeamService::CallbackService {
 public:
  explicit TeamServiceShim(TeamApi& api) : api_(api), pool_(8) {}
  AIM_TEAM_UNARY(CreateTeam, CreateTeamRequest, Team)
  AIM_TEAM_UNARY(GetTeam, GetTeamRequest, Team)
  AIM_TEAM_UNARY(ListTeams, ListTeamsRequest, ListTeamsResponse)
  AIM_TEAM_UNARY(UpdateTeam, UpdateTeamRequest, Team)
  AIM_TEAM_UNARY(DeleteTeam, DeleteTeamRequest, DeleteTeamResponse)
  AIM_TEAM_UNARY(CreateMember, CreateMemberRequest, Member)
  AIM_TEAM_UNARY(ListMembers, ListMembersRequest, ListMembersResponse)
  AIM_TEAM_UNARY(UpdateMember, UpdateMemberRequest, Member)
  AIM_TEAM_UNARY(DeleteMember, DeleteMemberRequest, DeleteMemberResponse)
  AIM_TEAM_UNARY(CreateApiKey, CreateApiKeyRequest, ApiKey)
  AIM_TEAM_UNARY(ListApiKeys, ListApiKeysRequest, ListApiKeysResponse)
  AIM_TEAM_UNARY(UpdateApiKey, UpdateApiKeyRequest, ApiKey)
  AIM_TEAM_UNARY(DeleteApiKey, DeleteApiKeyRequest, DeleteApiKeyResponse)
  AIM_TEAM_UNARY(ListAuditEntries, ListAuditEntriesRequest, ListAuditEntriesResponse)

 private:
  TeamApi& api_;             // Not owned; outlives the server.
  thread::WorkerPool pool_;  // The database calls; declared last, so joined first.
};

#undef AIM_TEAM_UNARY

class AuthServiceShim final : public v1::AuthService::CallbackService {
 public:
  AuthServiceShim(TeamApi& api, std::string internal_token)
      : api_(api), internal_token_(std::move(internal_token)), pool_(4) {}

  ServerUnaryReactor* Authenticate(CallbackServerContext* ctx, const v1::AuthenticateRequest* req,
                                   v1::AuthenticateResponse* resp) override {
    return grpcutil::ServeUnaryOn(
        pool_, ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::AuthenticateRequest& r) {
          return api_.Authenticate(cc, r);
        },
        &internal_token_);
  }

 private:
  TeamApi& api_;
  const std::string internal_token_;
  thread::WorkerPool pool_;
};

#define AIM_TEAM_CLIENT(stub, Service, Method, Req, Resp)                                    \
  absl::StatusOr<v1::Resp> Method(const rpc::CallContext& cc, const v1::Req& req) override { \
    return grpcutil::CallUnary<v1::Resp>(*stub, &v1::Service::Stub::Method, cc, req,         \
                                         internal_token_);                                   \
  }

class TeamGrpcClient final : public TeamApi {
 public:
  TeamGrpcClient(std::shared_ptr<grpc::Channel> channel, std::string internal_token)
      : team_(v1::TeamService::NewStub(channel)),
        auth_(v1::AuthService::NewStub(channel)),
        internal_token_(std::move(internal_token)) {}

  AIM_TEAM_CLIENT(team_, TeamService, CreateTeam, CreateTeamRequest, Team)
  AIM_TEAM_CLIENT(team_, TeamService, GetTeam, GetTeamRequest, Team)
  AIM_TEAM_CLIENT(team_, TeamService, ListTeams, ListTeamsRequest, ListTeamsResponse)
  AIM_TEAM_CLIENT(team_, TeamService, UpdateTeam, UpdateTeamRequest, Team)
  AIM_TEAM_CLIENT(team_, TeamService, DeleteTeam, DeleteTeamRequest, DeleteTeamResponse)
  AIM_TEAM_CLIENT(team_, TeamService, CreateMember, CreateMemberRequest, Member)
  AIM_TEAM_CLIENT(team_, TeamService, ListMembers, ListMembersRequest, ListMembersResponse)
  AIM_TEAM_CLIENT(team_, TeamService, UpdateMember, UpdateMemberRequest, Member)
  AIM_TEAM_CLIENT(team_, TeamService, DeleteMember, DeleteMemberRequest, DeleteMemberResponse)
  AIM_TEAM_CLIENT(team_, TeamService, CreateApiKey, CreateApiKeyRequest, ApiKey)
  AIM_TEAM_CLIENT(team_, TeamService, ListApiKeys, ListApiKeysRequest, ListApiKeysResponse)
  AIM_TEAM_CLIENT(team_, TeamService, UpdateApiKey, UpdateApiKeyRequest, ApiKey)
  AIM_TEAM_CLIENT(team_, TeamService, DeleteApiKey, DeleteApiKeyRequest, DeleteApiKeyResponse)
  AIM_TEAM_CLIENT(team_, TeamService, ListAuditEntries, ListAuditEntriesRequest,
                  ListAuditEntriesResponse)
  AIM_TEAM_CLIENT(auth_, AuthService, Authenticate, AuthenticateRequest, AuthenticateResponse)

 private:
  std::unique_ptr<v1::TeamService::Stub> team_;
  std::unique_ptr<v1::AuthService::Stub> auth_;
  const std::string internal_token_;
};

#undef AIM_TEAM_CLIENT

}  // namespace

std::unique_ptr<grpc::Service> NewTeamGrpcService(TeamApi& api) {
  return std::make_unique<TeamServiceShim>(api);
}

std::unique_ptr<grpc::Service> NewAuthGrpcService(TeamApi& api, std::string internal_token) {
  return std::make_unique<AuthServiceShim>(api, std::move(internal_token));
}

std::unique_ptr<TeamApi> NewTeamGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                           std::string internal_token) {
  return std::make_unique<TeamGrpcClient>(std::move(channel), std::move(internal_token));
}

}  // namespace aimarket::team
