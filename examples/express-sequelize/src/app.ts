/**
 * `createApp`: the Express app over a Sequelize connection and a cmek envelope. It defines the
 * model (with its encrypted fields) and mounts the routes; the caller syncs and listens.
 */
import type { Envelope } from '@cmek/core';
import express, { type Express } from 'express';
import type { Sequelize } from 'sequelize';
import { errorHandler, HttpError } from './http-error';
import { defineIntegrationConnection } from './model';
import { integrationRoutes } from './routes';

export interface AppOptions {
  readonly sequelize: Sequelize;
  readonly envelope: Envelope;
}

export async function createApp({ sequelize, envelope }: AppOptions): Promise<Express> {
  const Integration = await defineIntegrationConnection(sequelize, envelope);
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
  app.use('/integrations', integrationRoutes(Integration));
  app.use(() => {
    throw new HttpError(404, 'no such route');
  });
  app.use(errorHandler);
  return app;
}
