"""What the routers share: one per app, built by `create_app`."""

from dataclasses import dataclass

from fastapi.params import Depends as DependsParam

from qinglang.serve.http.errors import error_responses
from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.predictor import Predictor
from qinglang.serve.schemas import ModerateRequest, RerankRequest
from qinglang.serve.settings import HttpSettings
from qinglang.trending.rerank import Reranker


@dataclass(frozen=True)
class AppContext:
    """`moderate_request` and `rerank_request`: the request models with this app's limits
    (subclasses of ModerateRequest and RerankRequest); `require_key`: the `dependencies=`
    of a route that needs the API key (empty without one); `lifecycle`: whether the process
    is shutting down."""

    predictor: Predictor
    settings: HttpSettings
    metrics: ServiceMetrics
    reranker: Reranker
    moderate_request: type[ModerateRequest]
    rerank_request: type[RerankRequest]
    require_key: list[DependsParam]
    model_ref: dict
    default_profile: str
    lifecycle: Lifecycle

    def guarded_responses(self, *statuses: int) -> dict[int, dict]:
        """A guarded route's `responses=`: its error statuses, and 401 when the server has a key."""
        return error_responses(*statuses, *((401,) if self.settings.api_key else ()))
