"""What the routers share: one per app, built by `create_app`."""

from dataclasses import dataclass

from fastapi.params import Depends as DependsParam

from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.predictor import Predictor
from qinglang.serve.schemas import ModerateRequest, RerankRequest
from qinglang.serve.settings import HttpSettings
from qinglang.trending.rerank import Reranker


@dataclass(frozen=True)
class AppContext:
    """`moderate_request` and `rerank_request`: the request models with this app's limits
    (subclasses of ModerateRequest and RerankRequest); `require_key`: the API-key dependency."""

    predictor: Predictor
    settings: HttpSettings
    metrics: ServiceMetrics
    reranker: Reranker
    moderate_request: type[ModerateRequest]
    rerank_request: type[RerankRequest]
    require_key: DependsParam
    model_ref: dict
    default_profile: str
