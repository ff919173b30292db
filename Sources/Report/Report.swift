// Report: see Package.swift
