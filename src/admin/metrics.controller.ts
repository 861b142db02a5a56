import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply } from 'fastify';
import { register } from 'prom-client';
import { Public } from '../auth/access.decorators';
import { clusterMetrics } from '../cluster/cluster-metrics';
import { CompletionError, StreamErrorCode } from '../contract/error-code';

/** `/metrics` for Prometheus scrapes: public, like the health probes (it holds no secrets and no user data;
 * keep it off the public network with the ingress). In a cluster (`worker_threads` > 1) any worker answers
 * with every worker's metrics, aggregated by the primary. */
@Controller()
@Public()
export class MetricsController extends PrometheusController {
  @Get()
  override async index(@Res({ passthrough: true }) response: FastifyReply): Promise<string> {
    const aggregated = clusterMetrics();
    if (!aggregated) return super.index(response);
    try {
      const text = await aggregated;
      response.header('Content-Type', register.contentType);
      return text;
    } catch (err) {
      throw new CompletionError(
        StreamErrorCode.ServiceUnavailable,
        'The cluster metrics are unavailable: a worker did not answer in time.',
        { retryable: true, cause: err },
      );
    }
  }
}
