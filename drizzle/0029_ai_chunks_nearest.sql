-- One statement per vector search (VectorStore.searchPg): the HNSW settings a tenant-filtered search
-- needs are the function's own (SET clauses, restored when it returns), so a search needs neither a
-- transaction for SET LOCAL nor statements of its own to set them; on PGlite each statement costs
-- several trips through the WASM boundary. Only where pgvector is available (see 0009); SECURITY
-- INVOKER (the default), so row-level security applies to the caller's tenant as for any query.
-- Returns the hits as a JSON array of {id, source, source_id, object_type_id, property, text, distance}.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
    EXECUTE $f$
      CREATE OR REPLACE FUNCTION ai_chunks_nearest(p_tenant text, p_query vector, p_n integer, p_sources text[], p_types text[], p_graph boolean)
      RETURNS json
      LANGUAGE plpgsql
      SET hnsw.iterative_scan = 'relaxed_order'
      SET hnsw.max_scan_tuples = 50000
      SET hnsw.ef_search = 200
      SET enable_sort = on
      SET enable_indexscan = on
      AS $body$
      DECLARE
        q text := 'select c.id, c.source, c.source_id, c.object_type_id, c.property, c.text, (c.embedding_v <=> $2)::float8 as distance from ai_chunks c where c.tenant_id = $1';
        hits json;
        found integer;
      BEGIN
        IF p_sources IS NOT NULL THEN
          q := q || ' and c.source = any($3)';
        END IF;
        IF p_types IS NOT NULL THEN
          -- A type filter narrows objects; files (no type) still pass when files are asked for.
          q := q || CASE WHEN 'file' = ANY(coalesce(p_sources, '{}')) THEN ' and (c.object_type_id = any($5) or c.source = ''file'')' ELSE ' and c.object_type_id = any($5)' END;
        END IF;
        q := 'select coalesce(json_agg(h), ''[]''::json), count(*)::int from (' || q || ' order by c.embedding_v <=> $2 limit $4) h';
        -- Iterative scans go on until they have p_n rows of the tenant. A tenant big enough for the graph
        -- is searched with sorting discouraged (the planner prices the exact plan too low), so the HNSW
        -- index is the only ordered path; dynamic SQL, so each call is planned with these settings.
        PERFORM set_config('hnsw.ef_search', greatest(200, p_n)::text, true);
        PERFORM set_config('enable_sort', CASE WHEN p_graph THEN 'off' ELSE 'on' END, true);
        EXECUTE q INTO hits, found USING p_tenant, p_query, p_sources, p_n, p_types;
        IF p_graph AND found < p_n THEN
          -- The graph's scan stopped (hnsw.max_scan_tuples) before p_n rows: search exactly.
          PERFORM set_config('enable_sort', 'on', true);
          PERFORM set_config('enable_indexscan', 'off', true);
          EXECUTE q INTO hits, found USING p_tenant, p_query, p_sources, p_n, p_types;
        END IF;
        RETURN hits;
      END
      $body$
    $f$;
  END IF;
END
$$;
