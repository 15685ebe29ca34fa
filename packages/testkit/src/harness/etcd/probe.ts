import { request } from 'node:http';

/**
 * True when etcd's `/health` on `endpoint` answers `"health":"true"`: the member serves and has a
 * leader, which a single-member cluster elects right after start.
 */
export function probeEtcdHealth(endpoint: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${endpoint}/health`, { method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(false);
        try {
          const health = (JSON.parse(body) as { health?: unknown }).health;
          resolve(health === 'true' || health === true);
        } catch {
          resolve(false);
        }
      });
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
