#include "services/team_management/team_metrics.h"

#include <string>
#include <utility>

#include "common/metrics/metrics.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace aimarket::team {
namespace {

class TeamMetrics {
 public:
  static TeamMetrics& Get() {
    static TeamMetrics* m = new TeamMetrics();
    return *m;
  }

  void CountCall(const char* call, absl::StatusCode code) {
    calls_.Add({{"call", call}, {"code", absl::StatusCodeToString(code)}}).Increment();
  }

  void CountAuthentication(const absl::Status& s) {
    const char* result = "ok";
    if (!s.ok()) {
      const auto info = status::GetErrorInfo(s);
      const std::string reason = info ? info->reason() : "";
      result = reason == status::reason::kMissingApiKey   ? "missing_key"
               : reason == status::reason::kInvalidApiKey ? "invalid_key"
                                                          : "error";
    }
    authentications_.Add({{"result", result}}).Increment();
  }

 private:
  TeamMetrics()
      : calls_(
            prometheus::BuildCounter()
                .Name("aimarket_team_calls_total")
                .Help(
                    "TeamService calls (teams, members, keys, audit log) by call and status code.")
                .Register(metrics::Registry())),
        authentications_(prometheus::BuildCounter()
                             .Name("aimarket_team_authentications_total")
                             .Help("API keys authenticated by team-management, by result.")
                             .Register(metrics::Registry())) {}

  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Counter>& authentications_;
};

#define AIM_COUNTED(Method, Req, Resp)                                                        \
  absl::StatusOr<v1::Resp> Method(const rpc::CallContext& ctx, const v1::Req& req) override { \
    absl::StatusOr<v1::Resp> r = api_->Method(ctx, req);                                      \
    TeamMetrics::Get().CountCall(#Method, r.status().code());                                 \
    return r;                                                                                 \
  }

class CountingTeamApi final : public TeamApi {
 public:
  explicit CountingTeamApi(std::unique_ptr<TeamApi> api) : api_(std::move(api)) {}

  AIM_COUNTED(CreateTeam, CreateTeamRequest, Team)
  AIM_COUNTED(GetTeam, GetTeamRequest, Team)
  AIM_COUNTED(ListTeams, ListTeamsRequest, ListTeamsResponse)
  AIM_COUNTED(UpdateTeam, UpdateTeamRequest, Team)
  AIM_COUNTED(DeleteTeam, DeleteTeamRequest, DeleteTeamResponse)
  AIM_COUNTED(CreateMember, CreateMemberRequest, Member)
  AIM_COUNTED(ListMembers, ListMembersRequest, ListMembersResponse)
  AIM_COUNTED(UpdateMember, UpdateMemberRequest, Member)
  AIM_COUNTED(DeleteMember, DeleteMemberRequest, DeleteMemberResponse)
  AIM_COUNTED(CreateApiKey, CreateApiKeyRequest, ApiKey)
  AIM_COUNTED(ListApiKeys, ListApiKeysRequest, ListApiKeysResponse)
  AIM_COUNTED(UpdateApiKey, UpdateApiKeyRequest, ApiKey)
  AIM_COUNTED(DeleteApiKey, DeleteApiKeyRequest, DeleteApiKeyResponse)
  AIM_COUNTED(ListAuditEntries, ListAuditEntriesRequest, ListAuditEntriesResponse)

  absl::StatusOr<v1::AuthenticateResponse> Authenticate(
      const rpc::CallContext& ctx, const v1::AuthenticateRequest& req) override {
    absl::StatusOr<v1::AuthenticateResponse> r = api_->Authenticate(ctx, req);
    TeamMetrics::Get().CountAuthentication(r.status());
    return r;
  }

  std::optional<common::v1::Principal> AuthenticateAtOnce(const std::string& api_key) override {
    std::optional<common::v1::Principal> p = api_->AuthenticateAtOnce(api_key);
    if (p) TeamMetrics::Get().CountAuthentication(absl::OkStatus());
    return p;
  }

 private:
  std::unique_ptr<TeamApi> api_;
};

#undef AIM_COUNTED

}  // namespace

std::unique_ptr<TeamApi> WithMetrics(std::unique_ptr<TeamApi> api) {
  return std::make_unique<CountingTeamApi>(std::move(api));
}

}  // namespace aimarket::team
