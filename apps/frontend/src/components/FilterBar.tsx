"use client";

import { useId } from "react";
import { PRIORITY_LABEL, STATUS_LABEL } from "@/lib/tasks";
import { PRIORITIES, STATUS_FILTERS, type Priority, type StatusFilter, type TaskCounts, type TaskFilters } from "@/lib/types";

export interface FilterBarProps {
  filters: TaskFilters;
  /** null while the browser is still fetching them. */
  counts: TaskCounts | null;
  onStatus: (status: StatusFilter) => void;
  onPriority: (priority: Priority | "") => void;
  onSearch: (q: string) => void;
}

export function FilterBar({ filters, counts, onStatus, onPriority, onSearch }: FilterBarProps) {
  const uid = useId();
  const countFor: Record<StatusFilter, number | string> = counts
    ? { all: counts.open + counts.done, pending: counts.open, completed: counts.done }
    : { all: "", pending: "", completed: "" };
  return (
    <div className="filters" role="search" aria-label="Filter tasks">
      <fieldset className="segmented">
        <legend className="visually-hidden">Show</legend>
        {STATUS_FILTERS.map((s) => (
          <label key={s} className={filters.status === s ? "segmented__option is-active" : "segmented__option"}>
            <input
              type="radio"
              name={`${uid}-status`}
              value={s}
              checked={filters.status === s}
              onChange={() => onStatus(s)}
            />
            {STATUS_LABEL[s]} <span className="segmented__count">{countFor[s]}</span>
          </label>
        ))}
      </fieldset>
      <div className="field field--inline">
        <label htmlFor={`${uid}-priority`}>Priority</label>
        <select
          id={`${uid}-priority`}
          value={filters.priority}
          onChange={(e) => onPriority(e.target.value as Priority | "")}
        >
          <option value="">Any</option>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {PRIORITY_LABEL[p]}
            </option>
          ))}
        </select>
      </div>
      <div className="field field--inline field--grow">
        <label htmlFor={`${uid}-q`}>Search</label>
        <input
          id={`${uid}-q`}
          type="search"
          value={filters.q}
          placeholder="Title or description"
          onChange={(e) => onSearch(e.target.value)}
        />
      </div>
    </div>
  );
}
