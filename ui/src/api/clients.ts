// Connect clients for every service the app uses, over gRPC-Web through Envoy on the page's own
// origin. One interceptor attaches the signed-in user's bearer token to every call.
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { CalculationService } from "@sdk/analytics/calculation/v1/calculation_pb.js";
import { CatalogService } from "@sdk/analytics/catalog/v1/catalog_pb.js";
import { ClientConfigService } from "@sdk/analytics/config/v1/config_pb.js";
import { ProposalService } from "@sdk/analytics/config/v1/proposal_pb.js";
import { DataService } from "@sdk/analytics/data/v1/data_pb.js";
import { StreamService } from "@sdk/analytics/gateway/v1/stream_pb.js";
import { currentToken } from "../auth/session";

const bearer: Interceptor = (next) => async (request) => {
  const token = await currentToken();
  if (token) request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

export const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  interceptors: [bearer],
});

export const catalog = createClient(CatalogService, transport);
export const calculation = createClient(CalculationService, transport);
export const streams = createClient(StreamService, transport);
export const data = createClient(DataService, transport);

export const clientConfig = createClient(ClientConfigService, transport);
export const proposals = createClient(ProposalService, transport);
