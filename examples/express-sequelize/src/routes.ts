/**
 * The /integrations routes. The handlers read and write plaintext; the model's encrypted fields
 * do the rest. `GET /integrations/:id` returns the tokens: it is what the app's own workers call
 * to talk to Slack, Jira or GitHub. A real app puts it behind service authentication (and the
 * others behind the customer's session); this example has no authentication at all.
 */
import { Router } from 'express';
import { HttpError } from './http-error';
import type { IntegrationConnection, IntegrationConnectionModel } from './model';
import { detail, summary } from './present';
import { parseNewIntegration, parseTokenUpdate } from './validate';

function idOf(param: string): number | undefined {
  return /^[1-9]\d{0,15}$/.test(param) ? Number(param) : undefined;
}

async function findOr404(
  Integration: IntegrationConnectionModel,
  param: string,
): Promise<IntegrationConnection> {
  const id = idOf(param);
  const row = id === undefined ? null : await Integration.findByPk(id);
  if (row === null) throw new HttpError(404, 'no integration with this id');
  return row;
}

export function integrationRoutes(Integration: IntegrationConnectionModel): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const row = await Integration.create(parseNewIntegration(req.body));
    res.status(201).location(`${req.baseUrl}/${row.id}`).json(summary(row));
  });

  router.get('/', async (_req, res) => {
    const rows = await Integration.findAll({ order: [['id', 'ASC']] });
    res.json({ integrations: rows.map(summary) });
  });

  router.get('/:id', async (req, res) => {
    res.json(detail(await findOr404(Integration, req.params.id)));
  });

  /** Token rotation by the customer: the new access token, and the refresh token if given. */
  router.patch('/:id', async (req, res) => {
    const update = parseTokenUpdate(req.body);
    const row = await findOr404(Integration, req.params.id);
    res.json(summary(await row.update(update)));
  });

  // No read first: a row whose tokens cannot be decrypted any more can still be deleted.
  router.delete('/:id', async (req, res) => {
    const id = idOf(req.params.id);
    const deleted = id === undefined ? 0 : await Integration.destroy({ where: { id } });
    if (deleted === 0) throw new HttpError(404, 'no integration with this id');
    res.status(204).end();
  });

  return router;
}
