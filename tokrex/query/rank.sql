-- Per-latent metrics of a pattern's positives, computed by DuckDB.
-- Needs: views firings(token, latent, act) and latents(latent, level, n_fires, act_sum, act_sq_sum),
-- the positives registered from Arrow as tokrex_positives(token), and a CTE `fires(latent, n_fires)`
-- prepended by the caller (one of two fixed texts in rank.py). Every value is a bound parameter:
-- $n_pos (positives), $n_tokens (corpus tokens), $threshold (a latent fires when act > $threshold).
hits AS (
    SELECT f.latent,
           count(*) FILTER (WHERE f.act > $threshold) AS tp,
           sum(CAST(f.act AS DOUBLE)) AS pos_act_sum
    FROM firings AS f
    JOIN tokrex_positives AS p ON f.token = p.token
    GROUP BY f.latent
),
base AS (
    SELECT l.latent,
           CAST(coalesce(h.tp, 0) AS BIGINT) AS tp,
           CAST(coalesce(fi.n_fires, 0) AS BIGINT) AS n_fires,
           coalesce(h.pos_act_sum, 0.0) AS pos_act_sum,
           CAST(coalesce(l.act_sum, 0.0) AS DOUBLE) AS act_sum,
           CAST(coalesce(l.act_sq_sum, 0.0) AS DOUBLE) AS act_sq_sum
    FROM latents AS l
    LEFT JOIN hits AS h ON h.latent = l.latent
    LEFT JOIN fires AS fi ON fi.latent = l.latent
)
SELECT latent,
       tp,
       n_fires - tp AS fp,
       $n_pos - tp AS fn,
       CASE WHEN n_fires > 0 THEN tp / CAST(n_fires AS DOUBLE) ELSE 0.0 END AS precision,
       CASE WHEN $n_pos > 0 THEN tp / CAST($n_pos AS DOUBLE) ELSE 0.0 END AS recall,
       CASE WHEN n_fires + $n_pos > 0 THEN 2.0 * tp / (n_fires + $n_pos) ELSE 0.0 END AS f1,
       CASE WHEN act_sq_sum > 0 AND $n_pos > 0
            THEN least(1.0, greatest(0.0, pos_act_sum / (sqrt(act_sq_sum) * sqrt(CAST($n_pos AS DOUBLE)))))
            ELSE 0.0 END AS cosine,
       CASE WHEN $n_pos > 0 THEN pos_act_sum / $n_pos ELSE 0.0 END AS mean_act_pos,
       CASE WHEN $n_tokens > $n_pos THEN greatest(act_sum - pos_act_sum, 0.0) / ($n_tokens - $n_pos) ELSE 0.0 END
           AS mean_act_neg,
       CASE WHEN $n_pos > 0 THEN ($n_pos - tp) / CAST($n_pos AS DOUBLE) ELSE 0.0 END AS miss_share,
       n_fires
FROM base
ORDER BY latent
